"""The compile manager over the real sandbox, TeX and S3: timeouts and the cache.

(Every corpus document is compiled through the running service in test_compiler_service.)
"""

from compiler_helpers import (  # type: ignore[import-not-found]
    CORPUS,
    processes_of,
    project_files,
    raw_tar,
    submit,
)
from prometheus_client import REGISTRY
from texpipe_compiler.compile_manager import CompileManager
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import Engine, Outcome
from texpipe_servicekit.s3 import S3Store

SLOW_TIMEOUT_MS = 3000


async def test_slow_loop_times_out_and_leaves_no_process(
    manager: CompileManager, s3_store: S3Store, sandbox_uids: range
) -> None:
    bundle = raw_tar(project_files(CORPUS / "slow-loop"))
    result = await submit(manager, s3_store, bundle, Engine.PDFLATEX, timeout_ms=SLOW_TIMEOUT_MS)
    # The compiler's own clock stopped it (how fast is bench/'s business, not a test's).
    assert result.outcome is Outcome.TIMED_OUT
    assert result.error is not None
    assert result.error.code is ErrorCode.TIMEOUT
    assert list(processes_of(sandbox_uids)) == []


async def test_a_second_request_for_the_same_source_is_a_cache_hit(
    manager: CompileManager, s3_store: S3Store
) -> None:
    bundle = raw_tar(project_files(CORPUS / "hello"))
    first = await submit(manager, s3_store, bundle, Engine.PDFLATEX)
    hits = REGISTRY.get_sample_value(
        "texpipe_compile_cache_hits_total", {"engine": Engine.PDFLATEX.value}
    )
    second = await submit(manager, s3_store, bundle, Engine.PDFLATEX)
    assert second.cache_hit
    # Answered from the cache, without TeX: the compiler counted a hit.
    after = REGISTRY.get_sample_value(
        "texpipe_compile_cache_hits_total", {"engine": Engine.PDFLATEX.value}
    )
    assert (after or 0) == (hits or 0) + 1
    assert second.pdf == first.pdf
    assert second.log == first.log
