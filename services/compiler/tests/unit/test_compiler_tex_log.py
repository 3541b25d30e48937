"""The log panel of real TeX Live 2022 logs (tex_logs/README.md says how each was made):
the real first error at its real file and line, warnings and bad boxes at the file open."""

from pathlib import Path

import pytest
from texpipe_compiler.log_parser import LogReport, parse_latex_log, sanitize_text
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import Severity

LOGS = Path(__file__).parent / "tex_logs"

Row = tuple[str, str | None, int | None, str]


def report(case: str, log: str = "main.log") -> LogReport:
    return parse_latex_log(sanitize_text((LOGS / case / log).read_bytes()))


def rows(parsed: LogReport) -> list[Row]:
    """(severity, file, line, message) of each diagnostic."""
    return [(d.severity.value, d.file, d.line, d.message) for d in parsed.diagnostics]


def test_an_overfull_box_reading_like_a_location_is_not_the_error() -> None:
    parsed = report("error-location")
    assert parsed.error is not None
    assert (parsed.error.file, parsed.error.line) == ("main.tex", 7)
    assert parsed.error.message == "Undefined control sequence."
    assert parsed.error.code is ErrorCode.LATEX_ERROR
    assert "l.7 \\undefinedtimetablemacro" in parsed.error.excerpt
    assert rows(parsed) == [
        ("badbox", "main.tex", 4, "Overfull \\hbox (79.6698pt too wide) detected at line 4"),
        ("error", "main.tex", 7, "Undefined control sequence."),
    ]
    assert parsed.omitted == 0


def test_an_error_in_an_input_file_whose_name_has_a_space() -> None:
    parsed = report("input-with-space")
    assert parsed.error is not None
    assert (parsed.error.file, parsed.error.line) == ("chapters/chapter one.tex", 4)
    assert rows(parsed) == [
        ("error", "chapters/chapter one.tex", 4, "Undefined control sequence."),
    ]


def test_a_name_luatex_quotes() -> None:
    parsed = report("lualatex-quoted-name")
    assert rows(parsed) == [
        (
            "warning",
            "chapters/chapter one.tex",
            2,
            "Reference `nowhere' on page 1 undefined on input line 2.",
        ),
        ("error", "chapters/chapter one.tex", 4, "Undefined control sequence."),
    ]


def test_a_main_file_whose_name_has_a_space() -> None:
    parsed = report("main-with-space", "my paper.log")
    assert parsed.error is not None
    assert (parsed.error.file, parsed.error.line) == ("chapter two.tex", 2)


@pytest.mark.parametrize(
    ("case", "missing", "line"),
    [
        ("missing-package", "texpipe-no-such-package.sty", 4),
        ("missing-input", "sections/not-there.tex", 4),
    ],
)
def test_a_missing_file_is_one_error_located_by_the_stop_that_follows(
    case: str, missing: str, line: int
) -> None:
    parsed = report(case)
    assert parsed.error is not None
    assert parsed.error.code is ErrorCode.MISSING_FILE
    assert missing in parsed.error.message
    assert (parsed.error.file, parsed.error.line) == ("main.tex", line)
    assert "Emergency stop" in parsed.error.excerpt
    assert [d.severity for d in parsed.diagnostics] == [Severity.ERROR]


def test_an_error_raised_inside_a_tex_live_package() -> None:
    parsed = report("package-error")
    assert parsed.error is not None
    assert parsed.error.file == "/usr/share/texlive/texmf-dist/tex/latex/amsmath/amsmath.sty"
    assert parsed.error.line == 659
    assert parsed.error.message == "LaTeX Error: Command \\iint already defined."


def test_an_error_inside_the_projects_own_package() -> None:
    parsed = report("local-package")
    assert parsed.error is not None
    assert (parsed.error.file, parsed.error.line) == ("mystyle.sty", 3)


def test_undefined_references_citations_font_substitution_and_rerun() -> None:
    parsed = report("references")
    assert parsed.error is None
    assert rows(parsed) == [
        (
            "warning",
            "main.tex",
            4,
            "Reference `sec:intro' on page 1 undefined on input line 4.",
        ),
        (
            "warning",
            "main.tex",
            4,
            "Reference `sec:nowhere' on page 1 undefined on input line 4.",
        ),
        ("warning", "main.tex", 5, "Citation `nobody2020' on page 1 undefined on input line 5."),
        (
            "warning",
            "sections/results.tex",
            2,
            "Reference `fig:missing' on page 1 undefined on input line 2.",
        ),
        (
            "warning",
            "sections/results.tex",
            3,
            "Citation `ghost2021' on page 1 undefined on input line 3.",
        ),
        (
            "warning",
            "main.tex",
            7,
            "Font shape `OT1/cmr/bx/sc' undefined using `OT1/cmr/bx/n' instead on input line 7.",
        ),
        ("warning", "main.tex", None, "Some font shapes were not available, defaults substituted."),
        ("warning", "main.tex", None, "There were undefined references."),
        (
            "warning",
            "main.tex",
            None,
            "Label(s) may have changed. Rerun to get cross-references right.",
        ),
    ]


def test_package_warnings_over_several_lines_are_one_message() -> None:
    messages = [(d.line, d.message) for d in report("biblatex-rerun").diagnostics]
    assert (
        6,
        "hyperref: Token not allowed in a PDF string (Unicode): removing `math shift' on input "
        "line 6.",
    ) in messages
    assert (None, "rerunfilecheck: File `main.out' has changed. Rerun to get outlines right or "
            "use package `bookmark'.") in messages  # fmt: skip
    assert (
        None,
        "biblatex: Please (re)run Biber on the file: main and rerun LaTeX afterwards.",
    ) in messages
    assert (7, "Citation 'lamport1978' on page 1 undefined on input line 7.") in messages
    assert {d.file for d in report("biblatex-rerun").diagnostics} == {"main.tex"}


def test_bad_boxes_with_parentheses_in_their_text_keep_the_file_stack() -> None:
    parsed = report("boxes")
    assert parsed.error is None
    assert [(d.severity, d.file, d.line) for d in parsed.diagnostics] == [
        (Severity.BADBOX, "main.tex", line) for line in (3, 5, 5, 5, 5, 5, 8, 11)
    ]
    assert parsed.diagnostics[-1].message == (
        "Overfull \\vbox (61.21106pt too high) detected at line 11"
    )


def test_text_shaped_like_a_location_is_not_an_error() -> None:
    parsed = report("typeset-lookalike")
    assert parsed.error is None
    assert [d.severity for d in parsed.diagnostics] == [Severity.BADBOX, Severity.BADBOX]


def test_every_error_of_a_run_that_goes_on() -> None:
    parsed = report("several-errors-no-halt")
    assert parsed.error is not None
    assert (parsed.error.file, parsed.error.line) == ("main.tex", 3)
    assert "The control sequence at the end" not in parsed.error.excerpt
    assert [(d.severity.value, d.line) for d in parsed.diagnostics] == [
        ("error", 3),
        ("badbox", 5),
        ("error", 8),
        ("error", 9),
    ]
    assert parsed.diagnostics[2].message == "Missing $ inserted."


def test_a_missing_character() -> None:
    (missing,) = report("xelatex-missing-char").diagnostics
    assert missing.severity is Severity.WARNING
    assert missing.file == "main.tex"
    assert missing.message.startswith("Missing character: There is no ☃ (U+2603) in font")


def test_a_quoted_name_and_a_name_followed_by_a_message() -> None:
    log = (
        '("./chapters/chapter one.tex" (./intro.tex Loading intro v1.2 (beta)\n'
        "./intro.tex:2: Undefined control sequence.\n"
        "l.2 \\oops\n"
        "       \n"
        "\n"
        ")\n"
        "LaTeX Warning: Reference `a' on page 1 undefined on input line 5.\n"
    )
    parsed = parse_latex_log(log)
    assert rows(parsed) == [
        ("error", "intro.tex", 2, "Undefined control sequence."),
        (
            "warning",
            "chapters/chapter one.tex",
            5,
            "Reference `a' on page 1 undefined on input line 5.",
        ),
    ]


def test_the_list_is_bounded_keeping_errors_then_warnings() -> None:
    boxes = "".join(
        f"Overfull \\hbox (1.0pt too wide) detected at line {n}\n\\OT1/cmr/m/n/10 x\n\n"
        for n in range(1, 8)
    )
    log = (
        f"(./main.tex\n{boxes}LaTeX Warning: There were undefined references.\n\n"
        "./main.tex:9: Undefined control sequence.\nl.9 \\x\n\n"
    )
    parsed = parse_latex_log(log, max_entries=3)
    assert [(d.severity.value, d.line) for d in parsed.diagnostics] == [
        ("badbox", 1),
        ("warning", None),
        ("error", 9),
    ]
    assert parsed.omitted == 6
