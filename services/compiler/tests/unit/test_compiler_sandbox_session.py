"""The host checks the shape of every reply of the sandbox driver: a forged one is a
SandboxError (an outcome of the compile), never a crash."""

import asyncio
from typing import cast

import pytest
from texpipe_compiler.errors import SandboxError
from texpipe_compiler.sandbox_session import SandboxSession


class _Sink:
    """Stands for the pipe to the driver."""

    def write(self, data: bytes) -> None:
        del data

    async def drain(self) -> None:
        return None


def session_replying(*lines: bytes) -> SandboxSession:
    reader = asyncio.StreamReader()
    for line in lines:
        reader.feed_data(line)
    reader.feed_eof()
    return SandboxSession(reader, cast(asyncio.StreamWriter, _Sink()))


async def test_well_formed_replies_are_taken() -> None:
    session = session_replying(
        b'{"exit": 0, "signal": null, "truncated": false, "size": 2}\nok',
        b'{"status": "ok", "size": 3}\nPDF',
        b'{"paths": ["a.aux"], "truncated": false, "size": 0}\n',
    )
    ran = await session.run(["true"], {}, output_cap=10)
    assert (ran.exit_code, ran.output) == (0, b"ok")
    assert (await session.read("a", max_bytes=10)).data == b"PDF"
    assert await session.list([".aux"], max_files=5) == ["a.aux"]


@pytest.mark.parametrize(
    "reply",
    [
        b"[]\n",  # what a patched pid 1 once wrote
        b"null\n",
        b"not json\n",
        b"[" * 100_000 + b"\n",
        b'{"exit": "0", "signal": null, "truncated": false, "size": 0}\n',
        b'{"exit": 0, "signal": null, "truncated": false, "size": 0, "extra": 1}\n',
        b'{"exit": 0, "signal": 999, "truncated": false, "size": 0}\n',
        b'{"exit": 0, "signal": null, "truncated": false, "size": -1}\n',
        b'{"exit": 0, "signal": null, "truncated": false, "size": 99}\n',  # over the cap
        b'{"exit": 0, "signal": null, "truncated": false, "size": 5}\nab',  # cut short
        b'{"error": ["not", "a", "string"], "size": 0}\n',
        b'{"error": "driver said no", "size": 0}\n',
        b'{"exit": 0, "signal": null, "truncated": false, "size": 0}',  # no newline: EOF
        b"",
    ],
)
async def test_a_malformed_run_reply_is_a_sandbox_error(reply: bytes) -> None:
    with pytest.raises(SandboxError):
        await session_replying(reply).run(["true"], {}, output_cap=10)


@pytest.mark.parametrize(
    "reply",
    [
        b'{"status": "secret", "size": 0}\n',
        b'{"status": "missing", "size": 4}\ndata',  # data with a status that has none
    ],
)
async def test_a_malformed_read_reply_is_a_sandbox_error(reply: bytes) -> None:
    with pytest.raises(SandboxError):
        await session_replying(reply).read("output.pdf", max_bytes=10)


async def test_a_listing_longer_than_asked_is_a_sandbox_error() -> None:
    session = session_replying(b'{"paths": ["a", "b", "c"], "truncated": true, "size": 0}\n')
    with pytest.raises(SandboxError):
        await session.list([".aux"], max_files=2)
