"""A TCP proxy a test controls: put it between a service and S3, the broker or PostgreSQL,
then cut it (the dependency is unreachable) or drop its connections (they break mid-use).

It runs in the test's own event loop; the services are separate processes that connect to
``127.0.0.1:<proxy.port>`` instead of the server. Nothing on the machine's shared servers is
touched, so tests of other sessions never notice.
"""

import asyncio
import contextlib
from types import TracebackType

CHUNK_BYTES = 64 * 1024


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``target_host:target_port``.

    ``cut()`` drops every connection and refuses new ones (accepted, then closed at once)
    until ``restore()``; ``drop()`` breaks the current connections only; ``connections``
    counts the connections accepted while not cut.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host, self.target_port = target_host, target_port
        self.port = 0
        self.cut_now = False
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> "TcpProxy":
        """Listen on a free loopback port (``port``)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut(self) -> None:
        """The target is unreachable from now on: drop everything, refuse new connections."""
        self.cut_now = True
        self.drop()

    def restore(self) -> None:
        """Forward new connections again."""
        self.cut_now = False

    def drop(self) -> None:
        """Break every connection that goes through the proxy now (both sides see a reset)."""
        for writer in list(self._writers):
            transport = writer.transport
            if hasattr(transport, "abort"):
                transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        """Stop listening and drop everything."""
        self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_now:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._writers.update((writer, up_writer))
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()
            self._tasks.difference_update(pumps)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(CHUNK_BYTES):
                writer.write(data)
                await writer.drain()

    async def __aenter__(self) -> "TcpProxy":
        return await self.start()

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.close()
