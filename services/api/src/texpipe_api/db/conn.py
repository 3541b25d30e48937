"""The connection type every query function takes: a plain one or one from the pool."""

from typing import TYPE_CHECKING, TypeAlias

from asyncpg import Connection
from asyncpg.pool import PoolConnectionProxy

if TYPE_CHECKING:
    from asyncpg import Record

    # Generic only in the type stubs; at run time the classes take no parameters.
    Conn: TypeAlias = Connection[Record] | PoolConnectionProxy[Record]
else:
    Conn: TypeAlias = Connection | PoolConnectionProxy
