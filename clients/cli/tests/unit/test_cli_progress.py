"""Progress rendering: a live line on a terminal, plain lines elsewhere."""

import asyncio
import io

from texpipe_cli.progress import Progress, state_line, waiting_line


def test_lines() -> None:
    assert waiting_line("queued", 3.21, 0) == "| queued 3.2 s"
    assert waiting_line("queued", 3.21, 5) == "/ queued 3.2 s"
    assert state_line("applied", 0.42) == "applied (0.4 s)"


async def test_plain_output_prints_each_state_once() -> None:
    stream = io.StringIO()
    progress = Progress(stream, live=False)
    progress.state("queued")
    progress.state("queued")
    progress.note("api unreachable; retrying in 0.5 s")
    progress.state("applied")
    await progress.close()
    lines = stream.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "queued",
        "api unreachable; retrying in 0.5 s",
        "applied",
    ]
    assert "\r" not in stream.getvalue()


async def test_live_output_redraws_one_line_and_clears_it() -> None:
    stream = io.StringIO()
    progress = Progress(stream, live=True)
    progress.state("queued")
    await asyncio.sleep(0.25)  # the spinner ticks every 0.1 s
    progress.note("a note stays")
    await progress.close()
    text = stream.getvalue()
    assert text.count("\r\x1b[K| queued") == 1
    assert "\r\x1b[K/ queued" in text  # a later frame
    assert "a note stays\n" in text
    assert text.endswith("\r\x1b[K")  # the terminal line is left empty
