"""The hostile corpus and more attacks of the same kinds: each one is contained.

Contained means: no command runs (``/tmp/texpipe-pwned`` never exists), the canary planted
in /tmp never reaches a PDF, a log or an error excerpt, nothing the service's environment
holds reaches TeX, time and output stay bounded, and nothing is left running.
"""

import asyncio
import os
from collections.abc import Iterator

import pytest
from compiler_helpers import (  # type: ignore[import-not-found]  # tests dir, see conftest
    CANARY_FILES,
    PWNED,
    hostile_cases,
    magic_engine,
    outputs_of,
    pdf_streams_text,
    plant_canary,
    processes_of,
    raw_tar,
    submit,
)
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.compile_manager import CompileManager
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import CompileCompleted, Engine, Outcome
from texpipe_servicekit.s3 import S3Store

TIMEOUT_MS = 3000
HANG_GUARD_S = 60
"""Beyond the compile timeout: only a compile that never ends reaches it."""
ENV_SECRET_NAME = "TEXPIPE_TEST_SERVICE_SECRET"
# What each case of the shared hostile corpus may end as (its first line says why).
ALLOWED = {
    "infinite-loop": {Outcome.TIMED_OUT},
    "latexmkrc-in-project": {Outcome.SUCCEEDED},  # accepted as data, never executed
    "million-pages": {Outcome.FAILED, Outcome.TIMED_OUT},
}


@pytest.fixture
def secret() -> Iterator[str]:
    """A fresh canary in /tmp and in this process's environment (as a service secret)."""
    value = plant_canary()
    os.environ[ENV_SECRET_NAME] = value
    yield value
    del os.environ[ENV_SECRET_NAME]


async def assert_contained(
    store: S3Store, result: CompileCompleted, secret: str, sandbox_uids: range
) -> None:
    """Nothing ran, nothing leaked, nothing is left."""
    assert not PWNED.exists(), "a command ran or a file was written outside the sandbox"
    pdf, log = await outputs_of(store, result)
    assert secret not in log
    if result.error is not None:
        assert secret not in result.error.message
        assert secret not in result.error.excerpt
    if pdf:
        assert secret.encode() not in pdf
        assert secret not in pdf_streams_text(pdf)
    assert list(processes_of(sandbox_uids)) == []


@pytest.mark.parametrize(
    ("name", "files"), hostile_cases(), ids=lambda v: v if isinstance(v, str) else ""
)
async def test_hostile_case_is_contained(
    name: str,
    files: list[ProjectFile],
    secret: str,
    manager: CompileManager,
    s3_store: S3Store,
    sandbox_uids: range,
) -> None:
    # The compile ends by its own limits; the guard only turns a hang into a failure.
    async with asyncio.timeout(TIMEOUT_MS / 1000 + HANG_GUARD_S):
        result = await submit(
            manager, s3_store, raw_tar(files), magic_engine(files), timeout_ms=TIMEOUT_MS
        )
    assert result.outcome in ALLOWED.get(name, set(Outcome)), result.error
    if name == "million-pages" and result.outcome is Outcome.FAILED:
        assert result.error is not None
        assert result.error.code is ErrorCode.OUTPUT_TOO_LARGE
    await assert_contained(s3_store, result, secret, sandbox_uids)


def tex(body: str, preamble: str = "") -> list[ProjectFile]:
    """A main.tex with ``body`` in an article."""
    source = (
        f"\\documentclass{{article}}\n{preamble}\n\\begin{{document}}\n{body}\n\\end{{document}}\n"
    )
    return [ProjectFile("main.tex", source.encode())]


LUA_ATTACKS = r"""
\directlua{
  local function try(f) local ok, v = pcall(f); if ok and v then tex.print(-2, tostring(v)) end end
  try(function() return os.getenv("TEXPIPE_TEST_SERVICE_SECRET") end)
  try(function() local f = io.open("/proc/1/environ"); return f and f:read("a") end)
  try(function() local f = io.open("/proc/self/environ"); return f and f:read("a") end)
  try(function() local f = io.open("/tmp/texpipe-canary.txt"); return f and f:read("a") end)
  try(function() local f = io.open("/tmp/texpipe-pwned", "w"); f:write("x"); f:close() end)
  try(function() return lfs.link("/tmp/texpipe-canary.txt", "leak.txt", true) end)
  try(function() local f = io.open("leak.txt"); return f and f:read("a") end)
  try(function() return os.execute("touch /tmp/texpipe-pwned") end)
  try(function() local p = io.popen("touch /tmp/texpipe-pwned"); return p and p:read("a") end)
  try(function() return os.remove("/tmp/texpipe-canary.tex") end)
}
Lua attacks done.
"""
EXTRA_ATTACKS = {
    "pdfobj-stream-file": (
        Engine.PDFLATEX,
        tex(
            r"\immediate\pdfobj stream file {/tmp/texpipe-canary.txt}\pdfrefobj\pdflastobj"
            r"\immediate\pdfobj stream file {/proc/self/environ}\pdfrefobj\pdflastobj"
            " Embedded."
        ),
    ),
    "xdvipdfmx-fstream": (
        Engine.XELATEX,
        tex(
            r"\special{pdf:fstream @leak (/tmp/texpipe-canary.txt)}\special{pdf:put @leak <<>>} Hi."
        ),
    ),
    "lualatex-io-os-lfs": (Engine.LUALATEX, tex(LUA_ATTACKS)),
    "bibstyle-shell-name": (
        Engine.PDFLATEX,
        tex(
            r"\makeatletter\immediate\write\@auxout{\string\bibstyle{`touch /tmp/texpipe-pwned`}}"
            r"\immediate\write\@auxout{\string\bibdata{x`touch /tmp/texpipe-pwned`}}"
            r"\immediate\write\@auxout{\string\@input{|touch /tmp/texpipe-pwned}}\makeatother"
            r" Cite \cite{a}."
        ),
    ),
    "input-pipe": (
        Engine.PDFLATEX,
        tex(r"\input{|touch /tmp/texpipe-pwned} \input{|\detokenize{id}}"),
    ),
    "openin-parent": (
        Engine.PDFLATEX,
        tex(r"\input{../../../../tmp/texpipe-canary.tex} \input{/proc/self/environ}"),
    ),
    "openout-dotfile-and-parent": (
        Engine.PDFLATEX,
        tex(
            r"\newwrite\w\immediate\openout\w=../../../../tmp/texpipe-pwned"
            r"\immediate\write\w{x}\immediate\closeout\w"
            r"\immediate\openout\w=.latexmkrc\immediate\write\w{system('touch /tmp/texpipe-pwned')}"
            r"\immediate\closeout\w Done."
        ),
    ),
    "dev-zero": (Engine.PDFLATEX, tex(r"\input{/dev/zero}")),
    "deep-directory-tree": (
        Engine.LUALATEX,
        tex(r"\directlua{local p = 'd' for i = 1, 1500 do lfs.mkdir(p) p = p .. '/d' end} Deep."),
    ),
    "tectonic-absolute-read": (
        Engine.TECTONIC,
        tex(r"\input{/tmp/texpipe-canary.tex} \input{../../../tmp/texpipe-canary.tex}"),
    ),
}


@pytest.mark.parametrize("name", sorted(EXTRA_ATTACKS))
async def test_extra_attack_is_contained(
    name: str, secret: str, manager: CompileManager, s3_store: S3Store, sandbox_uids: range
) -> None:
    engine, files = EXTRA_ATTACKS[name]
    async with asyncio.timeout(TIMEOUT_MS / 1000 + HANG_GUARD_S):
        result = await submit(manager, s3_store, raw_tar(files), engine, timeout_ms=TIMEOUT_MS)
    await assert_contained(s3_store, result, secret, sandbox_uids)
    assert all(p.read_text().strip() == secret for p in CANARY_FILES), "a canary was changed"


async def test_an_output_swapped_for_a_link_never_leaves_the_sandbox(
    secret: str, manager: CompileManager, s3_store: S3Store
) -> None:
    body = (
        r"\directlua{luatexbase.add_to_callback('wrapup_run', function()"
        r" os.remove('main.pdf') lfs.link('/etc/texmf/web2c/texmf.cnf', 'main.pdf', true)"
        r" end, 'swap')} Swapped."
    )
    result = await submit(manager, s3_store, raw_tar(tex(body)), Engine.LUALATEX)
    assert result.outcome is Outcome.FAILED
    assert result.error is not None
    assert result.error.code is ErrorCode.NO_OUTPUT


OUTSIDE_WRITES = r"""
\directlua{
  for _, path in ipairs({"/x", "/dev/x", "/dev/shm/x", "/opt/x", "/proc/x"}) do
    local f, err = io.open(path, "w")
    if f then
      local ok = f:write(string.rep("x", 1048576))
      f:close()
      texio.write_nl("OUTSIDE-WROTE " .. path .. " " .. tostring(ok))
    else
      texio.write_nl("OUTSIDE-REFUSED " .. path .. ": " .. tostring(err))
    end
  end
  for _, dir in ipairs({"/made", "/dev/made"}) do
    local ok, err = lfs.mkdir(dir)
    texio.write_nl("OUTSIDE-MKDIR " .. dir .. " " .. tostring(ok) .. " " .. tostring(err))
  end
  local f = io.open("/work/tmp/inside.txt", "w")
  texio.write_nl("INSIDE-WROTE " .. tostring(f and true or false))
}
Writes tried.
"""


async def test_nothing_outside_the_work_tmpfs_is_writable(
    manager: CompileManager, s3_store: S3Store
) -> None:
    """bwrap's own / and /dev are uncapped tmpfs (half of RAM): they must be read-only, or a
    document fills the host's memory past the work tmpfs's cap."""
    result = await submit(manager, s3_store, raw_tar(tex(OUTSIDE_WRITES)), Engine.LUALATEX)
    assert result.outcome is Outcome.SUCCEEDED, result.error
    _, log = await outputs_of(s3_store, result)
    assert "INSIDE-WROTE true" in log
    assert "OUTSIDE-WROTE" not in log
    assert log.count("OUTSIDE-REFUSED") == 5
    # LuaTeX's io.open gives no reason; lfs does: the file system is read-only.
    assert "OUTSIDE-MKDIR /made nil Read-only file system" in log
    assert "OUTSIDE-MKDIR /dev/made nil Read-only file system" in log


@pytest.mark.parametrize(
    ("name", "bundle", "main_file"),
    [
        ("symlink", raw_tar(tex("x"), links={"leak.tex": "/tmp/texpipe-canary.tex"}), "main.tex"),
        (
            "hardlink",
            raw_tar(tex("x"), links={"leak.tex": "/tmp/texpipe-canary.tex"}, hard=True),
            "main.tex",
        ),
        ("dot-dot", raw_tar([*tex("x"), ProjectFile("../evil.tex", b"x")]), "main.tex"),
        ("absolute", raw_tar([*tex("x"), ProjectFile("/tmp/texpipe-pwned", b"x")]), "main.tex"),
        ("case-collision", raw_tar([*tex("x"), ProjectFile("MAIN.tex", b"x")]), "main.tex"),
        ("control-char", raw_tar([*tex("x"), ProjectFile("a\rb.tex", b"x")]), "main.tex"),
        ("missing-main", raw_tar(tex("x")), "other.tex"),
        ("not-a-tar", b"\x1f\x8b not a tar at all", "main.tex"),
    ],
)
async def test_unsafe_bundle_is_rejected(
    name: str,
    bundle: bytes,
    main_file: str,
    secret: str,
    manager: CompileManager,
    s3_store: S3Store,
) -> None:
    result = await submit(manager, s3_store, bundle, Engine.PDFLATEX, main_file=main_file)
    assert result.outcome is Outcome.REJECTED, name
    assert result.error is not None
    assert result.error.code is ErrorCode.SOURCE_REJECTED
    assert not PWNED.exists()


WRITE18 = r"\immediate\write18{touch /tmp/texpipe-pwned}Inert."
INERT_NAMES = {
    "latexmkrc": ([ProjectFile(".latexmkrc", b"system('touch /tmp/texpipe-pwned');")], "main.tex"),
    "texmf-cnf": ([ProjectFile("texmf.cnf", b"shell_escape = t\nopenin_any = a\n")], "main.tex"),
    "option-like-names": (
        [ProjectFile("-shell-escape.tex", tex(WRITE18)[0].data), ProjectFile("--help.tex", b"x")],
        "-shell-escape.tex",
    ),
    "shell-like-names": (
        [ProjectFile("a`touch /tmp/texpipe-pwned`.tex", b"x"), ProjectFile("$(id) x.tex", b"y")],
        "main.tex",
    ),
}


@pytest.mark.parametrize("name", sorted(INERT_NAMES))
async def test_unusual_names_and_build_files_are_inert_data(
    name: str, secret: str, manager: CompileManager, s3_store: S3Store, sandbox_uids: range
) -> None:
    """What authors may ship (a latexmkrc, odd names) is accepted, compiled, never run."""
    extra, main_file = INERT_NAMES[name]
    files = [*tex(WRITE18), *extra]
    result = await submit(manager, s3_store, raw_tar(files), Engine.PDFLATEX, main_file=main_file)
    assert result.outcome is Outcome.SUCCEEDED, (name, result.error)
    await assert_contained(s3_store, result, secret, sandbox_uids)


SWAP_FOLDER = r"""\documentclass{article}
\begin{document}
\section{A}\label{a} See \ref{a}.
\directlua{os.rename("../paper", "../paper.old") lfs.link("/", "../paper", true)}
\end{document}
"""


async def test_a_main_folder_swapped_for_a_link_is_never_entered(
    secret: str, manager: CompileManager, s3_store: S3Store, sandbox_uids: range
) -> None:
    """Between passes a document replaces its own folder with a link to /: the next pass
    does not run there (the driver opens folders without following links)."""
    files = [ProjectFile("paper/main.tex", SWAP_FOLDER.encode())]
    result = await submit(
        manager, s3_store, raw_tar(files), Engine.LUALATEX, main_file="paper/main.tex"
    )
    assert result.outcome is Outcome.FAILED, result
    await assert_contained(s3_store, result, secret, sandbox_uids)
