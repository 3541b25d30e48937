"""What an auxiliary state may hold, and what identifies a preamble and its format (pure)."""

import dataclasses
import gzip
import hashlib
import os
import uuid
from pathlib import Path
from typing import cast

import pytest
from texpipe_compiler import format_files, incremental, passes, preamble
from texpipe_compiler import latex_commands as cmd
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.cache_key import CacheInputs, cache_key
from texpipe_compiler.format_files import FormatFiles
from texpipe_compiler.state_store import StateStore
from texpipe_contracts.v1 import Engine
from texpipe_servicekit.s3 import S3Store

MAIN = cmd.MainFile("main.tex")
PROJECT = [ProjectFile("main.tex", b"\\documentclass{article}\n\\begin{document}\nx\n")]


def _aux(files: dict[str, bytes]) -> passes.AuxFiles:
    return passes.AuxFiles(files, frozenset(files), True)


def test_a_state_keeps_what_tex_reads_back_and_round_trips() -> None:
    aux = _aux({"main.aux": b"\\relax", "main.toc": b"t", "main.idx": b"i", "ch/1.aux": b"c"})
    seed = incremental.seed_from(aux, ["main.tex"], "bib", {"main.idx": "sig"})
    assert seed is not None
    assert [f.path for f in seed.files] == ["ch/1.aux", "main.aux", "main.toc"]
    back = incremental.decode_state(incremental.encode_state(seed), PROJECT)
    assert back == seed


def test_a_state_never_replaces_a_project_file() -> None:
    seed = incremental.AuxSeed((ProjectFile("main.bbl", b"old"),))
    shipped = [*PROJECT, ProjectFile("main.bbl", b"the author's")]
    assert incremental.decode_state(incremental.encode_state(seed), shipped).files == ()
    aux = _aux({"main.bbl": b"x"})
    kept = incremental.seed_from(aux, ["main.bbl"], None, {})
    assert kept is not None
    assert kept.files == ()


@pytest.mark.parametrize(
    "path",
    ["../escape.aux", "/abs.aux", "main.tex", "main.pdf", "_texpipe/x.aux", "a\\b.aux"],
)
def test_a_state_with_a_path_that_breaks_a_rule_is_dropped_whole(path: str) -> None:
    seed = incremental.AuxSeed((ProjectFile("main.aux", b"ok"), ProjectFile(path, b"x")))
    with pytest.raises(incremental.StateRejectedError):
        incremental.decode_state(incremental.encode_state(seed), PROJECT)


@pytest.mark.parametrize(
    "data", [b"not json", b"[]", b'{"schema": 99}', b'{"schema": 1, "bib_done": 3}']
)
def test_an_unreadable_state_is_rejected(data: bytes) -> None:
    with pytest.raises(incremental.StateRejectedError):
        incremental.decode_state(data, PROJECT)


def test_states_are_per_document_and_way_of_compiling() -> None:
    one, two = uuid.uuid4(), uuid.uuid4()
    key = incremental.state_key(one, Engine.PDFLATEX, "v", "f", "main.tex")
    assert key.startswith(f"compiler/aux/{one}/")
    assert key != incremental.state_key(two, Engine.PDFLATEX, "v", "f", "main.tex")
    assert key != incremental.state_key(one, Engine.XELATEX, "v", "f", "main.tex")
    assert key != incremental.state_key(one, Engine.PDFLATEX, "v2", "f", "main.tex")


def test_the_salt_ignores_the_main_file_unless_it_writes_files() -> None:
    bib = ProjectFile("refs.bib", b"@book{a}")
    base = incremental.inputs_salt([*PROJECT, bib], MAIN)
    edited = [ProjectFile("main.tex", b"other"), bib]
    assert incremental.inputs_salt(edited, MAIN) == base
    assert incremental.inputs_salt([*PROJECT, ProjectFile("refs.bib", b"@book{b}")], MAIN) != base
    writes = [ProjectFile("main.tex", b"\\begin{filecontents}{x.bib}"), bib]
    assert incremental.inputs_salt(writes, MAIN) != base


def test_bibliography_signatures_change_with_the_salt() -> None:
    aux = _aux({"main.aux": b"\\citation{a}\n\\bibdata{refs}\n\\bibstyle{plain}\n"})
    first = passes.bibliography_due(aux, None, main=MAIN, project_paths=[], done=None, salt="1")
    assert first is not None
    kept = passes.bibliography_due(
        aux, None, main=MAIN, project_paths=[], done=first.signature, salt="1"
    )
    assert kept is None
    other = passes.bibliography_due(
        aux, None, main=MAIN, project_paths=[], done=first.signature, salt="2"
    )
    assert other is not None


def test_reads_of_generated_files_outside_the_comparison_are_found() -> None:
    fls = (
        b"PWD /work/project\nINPUT /usr/share/texmf/x.sty\nINPUT ./main.tex\n"
        b"INPUT ./main.aux\nINPUT main.lol\nINPUT /work/project/_texpipe/texpipe-preamble.fmt\n"
        b"OUTPUT main.lol\n"
    )
    uncovered = passes.read_back_uncovered(fls, MAIN, ["main.tex"], ["main.aux"])
    assert uncovered == ["main.lol"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (b"\\documentclass{article}\n\\begin{document}\n", 2),
        (b"\\documentclass{article}\n% \\begin{document}\n\\begin{document}\n", 3),
        (b"\\documentclass{article}\n\\usepackage{x}\\begin{document} text\n", 2),
        (b"\\documentclass{article}\n\\csname endofdump\\endcsname\n\\begin{document}\n", None),
        (b"\\documentclass{article}\nno body\n", None),
        (b"\\documentclass{article}\n50\\% \\begin{document}\n", 2),
    ],
)
def test_the_preamble_ends_where_mylatexformat_stops_reading(text: bytes, line: int | None) -> None:
    assert preamble.preamble_end(text) == line


def _found(main: bytes, *others: ProjectFile) -> preamble.Preamble:
    files = [ProjectFile("main.tex", main), *others]
    found = preamble.preamble_of(files, MAIN, Engine.PDFLATEX, "v", "f")
    assert found is not None
    return found


def test_a_preamble_is_its_lines_and_the_project_s_paths_not_the_body() -> None:
    head = b"\\documentclass{article}\n\\begin{document}\n"
    base = _found(head + b"one")
    assert _found(head + b"two") == base
    assert _found(b"\\documentclass{book}\n\\begin{document}\none") != base
    assert _found(head + b"one", ProjectFile("fig.png", b"")) != base  # could shadow a file
    assert (
        preamble.preamble_of(PROJECT, cmd.MainFile("my paper.tex"), Engine.PDFLATEX, "", "") is None
    )


def test_a_dump_reads_the_project_and_the_installation_only() -> None:
    files = [*PROJECT, ProjectFile("sty/macros.tex", b"m")]
    fls = (
        b"PWD /work/project\nINPUT /usr/share/texlive/texmf-dist/tex/latex/base/article.cls\n"
        b"INPUT /var/lib/texmf/web2c/pdftex/pdflatex.fmt\nINPUT ./main.tex\n"
        b"INPUT sty/macros.tex\nINPUT /work/project/_texpipe/dump-main.tex\n"
        b"OUTPUT /work/project/_texpipe/dump/main.fmt\n"
    )
    found = preamble.dump_inputs(fls, MAIN, files)
    assert found == preamble.DumpInputs({"sty/macros.tex": hashlib.sha256(b"m").hexdigest()}, None)
    assert preamble.inputs_match(found.project, files)
    assert not preamble.inputs_match(found.project, [*PROJECT, ProjectFile("sty/macros.tex", b"n")])
    outside = preamble.dump_inputs(fls + b"INPUT /work/texmf-var/luatex-cache/x.lua\n", MAIN, files)
    assert outside.outside == "/work/texmf-var/luatex-cache/x.lua"
    generated = preamble.dump_inputs(fls + b"INPUT ./main.aux\n", MAIN, files)
    assert generated.outside == "/work/project/main.aux"


def test_a_manifest_names_only_formats_of_its_own_document() -> None:
    doc = uuid.uuid4()
    found = _found(b"\\begin{document}")
    key = preamble.format_key(doc, found, {})
    manifest = preamble.Manifest("dumped", format=key, inputs={})
    assert preamble.decode_manifest(preamble.encode_manifest(manifest), doc) == manifest
    assert preamble.decode_manifest(preamble.encode_manifest(manifest), uuid.uuid4()) is None
    assert preamble.decode_manifest(b"{", doc) is None


def test_a_scoped_cache_key_differs_from_the_shared_one() -> None:
    inputs = CacheInputs("a" * 64, Engine.PDFLATEX, "v", "f", "main.tex", 0)
    scoped = dataclasses.replace(inputs, scope=str(uuid.uuid4()))
    assert cache_key(scoped) != cache_key(inputs)
    assert cache_key(dataclasses.replace(scoped, scope=str(uuid.uuid4()))) != cache_key(scoped)


def test_the_dump_wraps_dump_and_reads_the_main_file_by_name() -> None:
    argv = cmd.dump_argv(Engine.PDFLATEX, MAIN, cmd.DUMP_CLOCKS[0])
    assert argv[:2] == ["pdflatex", "-ini"]
    assert "-no-shell-escape" in argv
    assert "-jobname=main" in argv
    assert argv[-2] == "&pdflatex"
    assert argv[-1].endswith(r"\input mylatexformat.ltx /work/project/_texpipe/dump-main.tex")
    assert cmd.dump_wrapper(MAIN).endswith(b"\\input ./main.tex\n")
    assert r"\def\dump{\texpipe@pgf\year=2000 " in argv[-1]
    assert r"\gdef\pgfmath@rnd@z{1}" in argv[-1], "pgf's seed is set again by each job"
    assert cmd.engine_argv(Engine.PDFLATEX, MAIN, with_format=True)[-2] == "-fmt=texpipe-preamble"
    assert cmd.tex_environment(0, with_format=True)["TEXFORMATS"].startswith(cmd.FORMAT_DIR)


class _Bucket:
    """Just enough of an S3Store for formats: counts the reads."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.gets = 0

    async def get(self, key: str, *, max_bytes: int | None = None) -> bytes:
        self.gets += 1
        return self.objects[key]

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.objects[key] = data


async def test_a_format_is_fetched_once_and_handed_out_uncompressed(tmp_path: Path) -> None:
    bucket = _Bucket()
    bucket.objects["a"] = gzip.compress(b"format a" * 1000)
    states = StateStore(cast(S3Store, bucket), FormatFiles(tmp_path, max_bytes=1 << 20))
    path = await states.load_format("a")
    assert path is not None
    assert path.read_bytes() == b"format a" * 1000
    assert oct(path.stat().st_mode & 0o777) == "0o444"
    assert await states.load_format("a") == path
    assert bucket.gets == 1


def test_format_files_keep_a_byte_budget_dropping_the_least_recently_used(
    tmp_path: Path,
) -> None:
    files = FormatFiles(tmp_path, max_bytes=25)
    first = files.put("a", b"1" * 10)
    files.put("b", b"2" * 10)
    assert first is not None
    os.utime(first, (1, 1))  # "a" used long ago
    files.put("c", gzip.compress(b"3" * 10))
    assert files.get("a") is None
    assert files.get("b") is not None
    assert files.get("c") is not None


@pytest.mark.parametrize(
    "data",
    [gzip.compress(b"x" * 100)[:-12], b"\x1f\x8b" + b"not deflate at all"],
    ids=["truncated", "corrupt"],
)
def test_a_broken_format_is_no_file(tmp_path: Path, data: bytes) -> None:
    files = FormatFiles(tmp_path, max_bytes=1 << 20)
    assert files.put("a", data) is None
    assert list(tmp_path.iterdir()) == []


def test_a_format_inflating_past_the_cap_is_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(format_files, "MAX_FORMAT_FILE_BYTES", 1000)
    files = FormatFiles(tmp_path, max_bytes=1 << 20)
    assert files.put("a", gzip.compress(b"\0" * 5000)) is None
    assert files.put("b", b"\0" * 900) is not None
