"""Whatever a document makes of its compile ends as one outcome: capped, uncached when it
failed, hostile PDFs judged cleanly, and the compiler's own surprises as INTERNAL_ERROR."""

from pathlib import Path
from typing import cast

import pytest
from compiler_helpers import raw_tar, submit  # type: ignore[import-not-found]
from conftest import compile_policy  # type: ignore[import-not-found]
from test_compiler_hostile import tex  # type: ignore[import-not-found]
from texpipe_compiler.compile_manager import CompileManager
from texpipe_compiler.engines import probe_engines
from texpipe_compiler.errors import SandboxError
from texpipe_compiler.latex_runner import LatexRunner, RunOutcome
from texpipe_compiler.outputs import PageCounter
from texpipe_compiler.slots import SlotPool
from texpipe_compiler.storage import OutputStore
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import Engine, Outcome
from texpipe_servicekit.s3 import S3Store

SIX_HUNDRED_PAGES = (
    r"\count255=0 \loop\null\newpage\advance\count255 by 1 \ifnum\count255<600 \repeat"
)


async def test_a_600_page_document_over_a_500_page_cap_is_too_large(
    manager: CompileManager, s3_store: S3Store
) -> None:
    result = await submit(manager, s3_store, raw_tar(tex(SIX_HUNDRED_PAGES)), Engine.PDFLATEX)
    assert result.outcome is Outcome.FAILED
    assert result.error is not None
    assert result.error.code is ErrorCode.OUTPUT_TOO_LARGE
    assert "600 pages" in result.error.message


@pytest.mark.parametrize(
    ("body", "timeout_ms", "outcome"),
    [
        (r"\undefinedcommand", 60_000, Outcome.FAILED),
        (r"\def\x{\x}\x", 2000, Outcome.TIMED_OUT),
        (SIX_HUNDRED_PAGES, 60_000, Outcome.FAILED),
    ],
    ids=["latex-error", "timeout", "too-many-pages"],
)
async def test_what_did_not_succeed_is_never_cached(
    body: str, timeout_ms: int, outcome: Outcome, manager: CompileManager, s3_store: S3Store
) -> None:
    bundle = raw_tar(tex(body))
    first = await submit(manager, s3_store, bundle, Engine.PDFLATEX, timeout_ms=timeout_ms)
    again = await submit(manager, s3_store, bundle, Engine.PDFLATEX, timeout_ms=timeout_ms)
    assert (first.outcome, again.outcome) == (outcome, outcome)
    assert not first.cache_hit
    assert not again.cache_hit


@pytest.mark.parametrize(
    ("engine", "body"),
    [
        # xdvipdfmx encrypts with AES when asked; pypdf needs `cryptography` to open it.
        (Engine.XELATEX, r"\special{pdf:encrypt ownerpw (owner) userpw () length 128 perm 2052}"),
        (Engine.XELATEX, r"\special{pdf:encrypt ownerpw (owner) userpw (user) length 256}"),
        (Engine.TECTONIC, r"\special{pdf:encrypt ownerpw (owner) userpw () length 128 perm 2052}"),
        (Engine.PDFLATEX, r"\pdftrailer{/Prev 1000000000000000000000000000000}"),
        (Engine.PDFLATEX, r"\pdftrailer{/Size -1 /Root 0 0 R}"),
    ],
    ids=[
        "xetex-aes128-open",
        "xetex-aes256-locked",
        "tectonic-aes128-open",
        "pdftex-prev-overflow",
        "pdftex-bad-root",
    ],
)
async def test_a_hostile_pdf_is_applied_or_fails_cleanly(
    engine: Engine, body: str, manager: CompileManager, s3_store: S3Store
) -> None:
    """One call, one outcome: nothing raises (a raise would give the message back)."""
    result = await submit(manager, s3_store, raw_tar(tex(body + " Text.")), engine)
    if result.outcome is Outcome.SUCCEEDED:
        assert result.pdf is not None
        assert result.pdf.pages == 1
    else:
        assert result.outcome is Outcome.FAILED
        assert result.error is not None
        assert result.error.code is ErrorCode.NO_OUTPUT
        assert "cannot be read" in result.error.message


async def test_an_open_aes_encrypted_pdf_is_applied(
    manager: CompileManager, s3_store: S3Store
) -> None:
    body = r"\special{pdf:encrypt ownerpw (owner) userpw () length 128 perm 2052} Text."
    result = await submit(manager, s3_store, raw_tar(tex(body)), Engine.XELATEX)
    assert result.outcome is Outcome.SUCCEEDED, result.error
    assert result.pdf is not None
    assert result.pdf.pages == 1


class _BrokenRunner:
    """A runner that fails the way a bug would, or the way a broken sandbox would."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    async def compile(self, *_: object, **__: object) -> RunOutcome:
        raise self._error


async def _manager_with(
    runner: _BrokenRunner, s3_store: S3Store, counter: PageCounter, tectonic_dir: Path
) -> CompileManager:
    engines = await probe_engines([Engine.PDFLATEX], tectonic_dir)
    return CompileManager(
        compile_policy(), OutputStore(s3_store), cast(LatexRunner, runner), engines,
        SlotPool(1, None), counter,
    )  # fmt: skip


async def test_a_bug_while_compiling_is_a_failed_outcome(
    s3_store: S3Store, page_counter: PageCounter, tectonic_dir: Path
) -> None:
    bug = AttributeError("'list' object has no attribute 'get'")
    broken = await _manager_with(_BrokenRunner(bug), s3_store, page_counter, tectonic_dir)
    result = await submit(broken, s3_store, raw_tar(tex("x")), Engine.PDFLATEX)
    assert result.outcome is Outcome.FAILED
    assert result.error is not None
    assert result.error.code is ErrorCode.INTERNAL_ERROR
    assert "list" not in result.error.message  # the details go to the log only


async def test_a_sandbox_that_cannot_start_still_gives_the_message_back(
    s3_store: S3Store, page_counter: PageCounter, tectonic_dir: Path
) -> None:
    down = SandboxError("the sandbox did not start")
    broken = await _manager_with(_BrokenRunner(down), s3_store, page_counter, tectonic_dir)
    with pytest.raises(SandboxError):
        await submit(broken, s3_store, raw_tar(tex("x")), Engine.PDFLATEX)
