"""SyncTeX names <-> project paths, and reading the tool's answer (pure)."""

import gzip

import pytest
from texpipe_api.synctex_paths import (
    SynctexTooLargeError,
    input_names,
    project_path,
    synctex_name,
)
from texpipe_api.synctex_runner import MAX_RECORDS, parse_answer
from texpipe_api.views.outputs import attachment

ROOT = "/work/project"
FILES = frozenset({"main.tex", "paper/main.tex", "shared/intro.tex", "a/intro.tex", "b/intro.tex"})


@pytest.mark.parametrize(
    ("name", "folder", "expected"),
    [
        ("/work/project/./main.tex", "", "main.tex"),
        ("/work/project/paper/./main.tex", "paper", "paper/main.tex"),
        ("/work/project/paper/./../shared/intro.tex", "paper", "shared/intro.tex"),
        ("/work/project//a/./intro.tex", "", "a/intro.tex"),
        ("../shared/intro.tex", "paper", "shared/intro.tex"),  # relative: from the main's folder
        ("./main.tex", "paper", "paper/main.tex"),
        ("/work/project/./main.aux", "", None),  # generated, not the author's
        ("/usr/share/texlive/texmf-dist/tex/latex/base/article.cls", "", None),
        ("/work/project/../project/main.tex", "", "main.tex"),
        ("/work/project/../etc/passwd", "", None),
        ("/work/projectx/main.tex", "", None),
        ("/work/project", "", None),
        ("../../../../work/project/main.tex", "paper", "main.tex"),
        ("", "", None),
        ("/work/project/main.tex\x00.png", "", None),
    ],
)
def test_names_map_only_to_the_revisions_own_files(
    name: str, folder: str, expected: str | None
) -> None:
    assert project_path(name, root=ROOT, main_folder=folder, files=FILES) == expected


def test_a_project_path_maps_to_the_exact_name_tex_recorded() -> None:
    names = ["/usr/share/x/intro.tex", "/work/project/./b/intro.tex", "/work/project/./a/intro.tex"]
    kwargs = {"root": ROOT, "main_folder": "", "files": FILES}
    assert synctex_name("a/intro.tex", names, **kwargs) == "/work/project/./a/intro.tex"
    assert synctex_name("b/intro.tex", names, **kwargs) == "/work/project/./b/intro.tex"
    assert synctex_name("shared/intro.tex", names, **kwargs) is None  # never read
    assert synctex_name("../etc/passwd", ["/etc/passwd"], **kwargs) is None


def test_input_records_are_read_across_chunks_and_bounded() -> None:
    body = b"SyncTeX Version:1\nInput:1:/work/project/./main.tex\n"
    body += b"x" * 3_000_000 + b"\nInput:7:/work/project/./ch\xc3\xa4p.tex\nContent:\n"
    body += b"Input:8:\n"  # no name: skipped
    data = gzip.compress(body)
    assert input_names(data, max_bytes=len(body)) == [
        "/work/project/./main.tex",
        "/work/project/./chäp.tex",
    ]
    with pytest.raises(SynctexTooLargeError):
        input_names(data, max_bytes=len(body) - 1)
    with pytest.raises(ValueError, match="not gzip"):
        input_names(b"plain text", max_bytes=100)


def test_the_tools_answer_is_read_record_by_record() -> None:
    answer = (
        b"This is SyncTeX command line utility, version 1.5\n"
        b"SyncTeX result begin\nOutput:/in/output.pdf\nInput:/work/project/./main.tex\n"
        b"Line:10\nColumn:-1\nOutput:/in/output.pdf\nPage:2\nh:1.5\nnot a record\n"
        b"SyncTeX result end\nOutput:ignored\n"
    )
    assert parse_answer(answer) == [
        {"Input": "/work/project/./main.tex", "Line": "10", "Column": "-1"},
        {"Page": "2", "h": "1.5"},
    ]
    assert parse_answer(b"SyncTeX Warning: No tag for x.tex\n") == []
    many = b"SyncTeX result begin\n" + b"Output:x\nPage:1\n" * (MAX_RECORDS + 5)
    assert len(parse_answer(many)) == MAX_RECORDS


def test_a_download_name_cannot_break_its_header() -> None:
    assert attachment("main.pdf") == "attachment; filename=\"main.pdf\"; filename*=UTF-8''main.pdf"
    header = attachment('my "thesis"\\ä.pdf')
    assert header.startswith('attachment; filename="my _thesis___.pdf"; ')
    assert header.endswith("filename*=UTF-8''my%20%22thesis%22%5C%C3%A4.pdf")
