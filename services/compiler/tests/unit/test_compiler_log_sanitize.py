"""The log sanitizer: no bidi control or line separator survives, and a carriage return
cannot forge a line the log parser would read."""

import pytest
from texpipe_compiler.log_parser import parse_latex_log, sanitize_text

BIDI_AND_SEPARATORS = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.mark.parametrize("char", [*BIDI_AND_SEPARATORS, "\u2028", "\u2029"])
def test_every_bidi_control_and_separator_is_removed(char: str) -> None:
    assert sanitize_text(f"a{char}b".encode()) == "ab"


def test_a_carriage_return_cannot_start_a_forged_error_line() -> None:
    raw = b"(./main.tex\rmain.tex:1: Forged error.\n)\nOutput written on output.pdf.\n"
    text = sanitize_text(raw)
    assert "\r" not in text
    assert parse_latex_log(text).error is None


def test_crlf_is_a_line_end_and_real_errors_are_still_found() -> None:
    raw = b"(./main.tex\r\n./main.tex:4: Undefined control sequence.\r\nl.4 \\x\r\n"
    text = sanitize_text(raw)
    assert text.split("\n")[1] == "./main.tex:4: Undefined control sequence."
    error = parse_latex_log(text).error
    assert error is not None
    assert (error.file, error.line) == ("main.tex", 4)
