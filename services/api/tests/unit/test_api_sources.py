"""Pure checks of a request's file set: decoding, limits, path rules, engine choice."""

import base64

import pytest
from texpipe_api.errors import (
    InvalidRequestError,
    MainFileAmbiguousError,
    MainFileMissingError,
    PathRuleViolationError,
    SourceTooLargeError,
    TooManyFilesError,
)
from texpipe_api.schemas import Base64File, EngineSource
from texpipe_api.sources import (
    SourceLimits,
    check_sources,
    decode_files,
    detect_engine,
    engine_from_latexmkrc,
)
from texpipe_contracts.v1 import Engine

LIMITS = SourceLimits(max_files=3, max_total_bytes=100)


def test_text_and_base64_files_decode() -> None:
    files = {"main.tex": "é", "a.bin": Base64File(base64=base64.b64encode(b"\x00\xff").decode())}
    assert decode_files(files, LIMITS) == {"main.tex": "é".encode(), "a.bin": b"\x00\xff"}


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({}, InvalidRequestError),
        ({"a": "", "b": "", "c": "", "d": ""}, TooManyFilesError),
        ({"a": "x" * 60, "b": "y" * 41}, SourceTooLargeError),
        ({"../a": ""}, PathRuleViolationError),
        ({"a": Base64File(base64="***")}, InvalidRequestError),
    ],
)
def test_limits_and_rules(files: dict[str, str | Base64File], error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_files(files, LIMITS)


@pytest.mark.parametrize(
    ("text", "engine"),
    [
        ("% !TEX program = xelatex\n\\documentclass{article}", Engine.XELATEX),
        ("%!TEX TS-program = LuaLaTeX\n", Engine.LUALATEX),
        ("% comment\n\n% !TeX program=tectonic\n", Engine.TECTONIC),
        ("% !TEX program = troff\n", None),
        ("\\documentclass{article}\n% !TEX program = xelatex\n", None),  # after content
        ("no magic at all", None),
    ],
)
def test_magic_comment(text: str, engine: Engine | None) -> None:
    assert detect_engine(text.encode()) == engine


def test_engine_precedence_and_main_file() -> None:
    magic = {"main.tex": "% !TEX program = xelatex\n"}
    assert (
        check_sources(magic, main_file="main.tex", engine=None, limits=LIMITS).engine == "xelatex"
    )
    chosen = check_sources(magic, main_file="main.tex", engine=Engine.LUALATEX, limits=LIMITS)
    assert chosen.engine == Engine.LUALATEX
    plain = check_sources({"main.tex": "x"}, main_file="main.tex", engine=None, limits=LIMITS)
    assert plain.engine == Engine.PDFLATEX
    with pytest.raises(MainFileMissingError):
        check_sources({"a.tex": "x"}, main_file="main.tex", engine=None, limits=LIMITS)
    with pytest.raises(PathRuleViolationError):
        check_sources({"a.tex": "x"}, main_file="/etc/main.tex", engine=None, limits=LIMITS)


WIDE = SourceLimits(max_files=50, max_total_bytes=100_000)
DOC = "\\documentclass{article}\n\\begin{document}x\\end{document}\n"


def _main(files: dict[str, str]) -> str:
    return check_sources(files, main_file=None, engine=None, limits=WIDE).main_file


def test_the_main_file_is_found_as_an_author_expects() -> None:
    assert _main({"main.tex": DOC, "other.tex": DOC}) == "main.tex"
    assert _main({"thesis.tex": DOC, "chapters/intro.tex": "\\chapter{Intro}"}) == "thesis.tex"
    # A commented-out class does not count; a standalone figure gives way to the document.
    assert _main({"a.tex": "% \\documentclass{article}\n", "paper.tex": DOC}) == "paper.tex"
    figure = "\\documentclass{standalone}\n\\begin{document}f\\end{document}"
    assert _main({"figs/f.tex": figure, "Paper One.tex": DOC}) == "Paper One.tex"
    chapter = "\\documentclass[../thesis.tex]{subfiles}\n\\begin{document}c\\end{document}"
    assert _main({"thesis.tex": DOC, "ch/one.tex": chapter}) == "thesis.tex"
    # A '% !TEX root' comment names it.
    rooted = {"a.tex": DOC, "b.tex": DOC, "parts/p.tex": "% !TEX root = ../b.tex\n"}
    assert _main(rooted) == "b.tex"


def test_several_candidates_are_listed() -> None:
    with pytest.raises(MainFileAmbiguousError) as caught:
        _main({"a.tex": DOC, "b.tex": DOC})
    assert caught.value.extra["candidates"] == ["a.tex", "b.tex"]
    with pytest.raises(MainFileAmbiguousError, match="none has"):
        _main({"notes.txt": "x", "part.tex": "\\section{A}"})


@pytest.mark.parametrize(
    ("rc", "engine"),
    [
        ("$pdf_mode = 5;\n", Engine.XELATEX),
        ("$pdf_mode = 5", Engine.XELATEX),
        ("$pdf_mode = 4;  # LuaLaTeX\n", Engine.LUALATEX),
        ("$pdf_mode = 1;\n$pdflatex = 'lualatex %O %S';\n", Engine.LUALATEX),
        ("$pdf_mode = 1;\n", Engine.PDFLATEX),
        ("# $pdf_mode = 5;\n$pdf_mode = 1;\n", Engine.PDFLATEX),
        ("$pdflatex = q/xelatex -synctex=1 %O %S/;\n", Engine.XELATEX),
        ('system("touch /tmp/x");\n', None),
    ],
)
def test_latexmkrc_settings_are_read_never_run(rc: str, engine: Engine | None) -> None:
    assert engine_from_latexmkrc(rc) == engine


def test_engine_sources_in_order() -> None:
    rc = {"main.tex": DOC, "latexmkrc": "$pdf_mode = 5;\n"}
    chosen = check_sources(rc, main_file=None, engine=None, limits=WIDE)
    assert (chosen.engine, chosen.engine_source) == (Engine.XELATEX, EngineSource.LATEXMKRC)
    magic = {"main.tex": "% !TEX program = lualatex\n" + DOC, ".latexmkrc": "$pdf_mode = 5;"}
    chosen = check_sources(magic, main_file=None, engine=None, limits=WIDE)
    assert (chosen.engine, chosen.engine_source) == (Engine.LUALATEX, EngineSource.MAGIC_COMMENT)
    asked = check_sources(rc, main_file=None, engine=Engine.PDFLATEX, limits=WIDE)
    assert asked.engine_source is EngineSource.REQUEST
    nested = {"paper/main.tex": DOC, "paper/latexmkrc": "$pdf_mode = 4;", "latexmkrc": ""}
    chosen = check_sources(nested, main_file="paper/main.tex", engine=None, limits=WIDE)
    assert chosen.engine is Engine.LUALATEX
    plain = check_sources({"main.tex": DOC}, main_file=None, engine=None, limits=WIDE)
    assert plain.engine_source is EngineSource.DEFAULT


def test_names_are_stored_in_nfc_and_case_collisions_refused() -> None:
    decoded = decode_files({"Cafe\u0301.tex": "x"}, WIDE)
    assert list(decoded) == ["Caf\u00e9.tex"]
    with pytest.raises(PathRuleViolationError, match="letter case"):
        decode_files({"Fig.png": "", "fig.png": ""}, WIDE)
