"""Pure checks of a request's file set: decoding, limits, path rules, engine choice."""

import base64

import pytest
from texpipe_api.errors import (
    InvalidRequestError,
    MainFileMissingError,
    PathRuleViolationError,
    SourceTooLargeError,
    TooManyFilesError,
)
from texpipe_api.schemas import Base64File
from texpipe_api.sources import SourceLimits, check_sources, decode_files, detect_engine
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
