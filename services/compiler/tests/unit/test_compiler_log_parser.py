"""The first TeX error, its location and code; log text made safe to show."""

from texpipe_compiler.log_parser import (
    log_tail,
    parse_latex_log,
    parse_tectonic_output,
    sanitize_text,
)
from texpipe_contracts.errors import ErrorCode

UNDEFINED = """This is pdfTeX, Version 3.141592653-2.6-1.40.24
(./main.tex
LaTeX2e <2022-11-01> patch level 1
./main.tex:4: Undefined control sequence.
l.4 This line calls \\undefinedmacro
                                    {} which does not exist.
The control sequence at the end of the top line
./main.tex:9: Another error later.
"""

MISSING = """(./main.tex (/usr/share/texlive/texmf-dist/tex/latex/base/size10.clo)

! LaTeX Error: File `texpipe-no-such-package.sty' not found.

Type X to quit or <RETURN> to proceed,
or enter new name. (Default extension: sty)

Enter file name:
./main.tex:3: Emergency stop.
<read *>

l.3 \\begin
          {document}
"""


def test_a_located_error_gives_file_line_and_message() -> None:
    error = parse_latex_log(UNDEFINED).error
    assert error is not None
    assert (error.file, error.line) == ("main.tex", 4)
    assert error.message == "Undefined control sequence."
    assert error.code is ErrorCode.LATEX_ERROR
    assert "l.4 This line calls" in error.excerpt
    assert "Another error" not in error.excerpt


def test_a_missing_package_is_missing_file_located_by_the_stop_that_follows() -> None:
    error = parse_latex_log(MISSING).error
    assert error is not None
    assert error.code is ErrorCode.MISSING_FILE
    assert "texpipe-no-such-package.sty" in error.message
    assert (error.file, error.line) == ("main.tex", 3)


def test_tectonic_prefixed_errors_and_subdirectories_are_understood() -> None:
    error = parse_tectonic_output(
        "note: Running TeX ...\nerror: chapters/intro.tex:12: Missing $ inserted.\n"
    )
    assert error is not None
    assert (error.file, error.line, error.message) == (
        "chapters/intro.tex",
        12,
        "Missing $ inserted.",
    )


def test_a_clean_log_has_no_error() -> None:
    assert parse_latex_log("(./main.tex [1] )\nOutput written on output.pdf (1 page).\n") == (
        parse_latex_log("")
    )
    warned = parse_latex_log("Package hyperref Warning: Token not allowed (see file: x.tex:3)")
    assert warned.error is None
    assert [d.message for d in warned.diagnostics] == [
        "hyperref: Token not allowed (see file: x.tex:3)"
    ]


def test_terminal_control_sequences_and_bidi_tricks_are_stripped() -> None:
    raw = b"red \x1b[31mtext\x1b[0m\x1b]0;title\x07 bell\x07 \xe2\x80\xae evil\r\nnext \xff"
    text = sanitize_text(raw)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\u202e" not in text
    assert text.startswith("red text bell")
    assert "\nnext \ufffd" in text


def test_log_tail_keeps_the_last_lines() -> None:
    assert log_tail("\n".join(str(i) for i in range(100)), lines=3) == "97\n98\n99"
