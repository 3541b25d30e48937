"""Which files a compile sends, the main file, and how bytes travel as JSON."""

import base64
from pathlib import Path

import pytest
from texpipe_cli.errors import UsageError
from texpipe_cli.files import (
    choose_main,
    collect_folder,
    default_output,
    encode_file,
    load_project,
    state_path,
)

DOC = b"\\documentclass{article}\\begin{document}Hi\\end{document}\n"


def _tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_folder_sends_regular_files_by_relative_posix_path(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "main.tex": DOC,
            "chapters/one.tex": b"one",
            "figures/deep/plot.png": b"\x89PNG",
            ".hidden.tex": b"x",
            ".latexmkrc": b"$pdf_mode = 5;",
            ".git/config": b"x",
            ".texpipe/document.json": b"{}",
            "chapters/.swp": b"x",
        },
    )
    (tmp_path / "link.tex").symlink_to(tmp_path / "main.tex")
    (tmp_path / "linkdir").symlink_to(tmp_path / "chapters")
    found = collect_folder(tmp_path)
    assert list(found) == [".latexmkrc", "chapters/one.tex", "figures/deep/plot.png", "main.tex"]
    assert found["main.tex"] == tmp_path / "main.tex"


def test_excludes_match_paths_and_names_and_the_output_is_skipped(tmp_path: Path) -> None:
    _tree(tmp_path, {"main.tex": DOC, "main.aux": b"", "build/x.tex": b"", "out.pdf": b"%PDF"})
    found = collect_folder(tmp_path, exclude=["*.aux", "build"], skip=[tmp_path / "out.pdf"])
    assert list(found) == ["main.tex"]


def test_main_file_choice_is_the_apis_unless_named() -> None:
    assert choose_main({"a.tex": DOC, "b.tex": DOC}, None) is None
    assert choose_main({"a.tex": DOC, "b.tex": DOC}, "b.tex") == "b.tex"
    with pytest.raises(UsageError, match="no such file"):
        choose_main({"a.tex": DOC}, "missing.tex")


def test_text_travels_as_text_and_binary_as_base64() -> None:
    assert encode_file("Grüße \\LaTeX".encode()) == "Grüße \\LaTeX"
    png = b"\x89PNG\r\n\x1a\n\x00"
    assert encode_file(png) == {"base64": base64.b64encode(png).decode()}
    # valid UTF-8 but with NUL: not text a JSON string should carry
    assert encode_file(b"a\x00b") == {"base64": "YQBi"}


def test_output_and_state_beside_the_input(tmp_path: Path) -> None:
    folder = tmp_path / "paper"
    folder.mkdir()
    single = folder / "note.tex"
    single.write_bytes(DOC)
    assert default_output(folder) == tmp_path / "paper.pdf"
    assert default_output(single) == folder / "note.pdf"
    assert state_path(folder) == folder / ".texpipe" / "document.json"
    assert state_path(single) == folder / ".texpipe" / "note.tex.json"


def test_load_project_single_file_and_folder(tmp_path: Path) -> None:
    _tree(tmp_path, {"p/main.tex": DOC, "p/img.png": b"\x89", "solo.tex": DOC})
    solo = load_project(tmp_path / "solo.tex", main=None, output=tmp_path / "solo.pdf")
    assert (solo.main, list(solo.files)) == ("solo.tex", ["solo.tex"])
    folder = load_project(tmp_path / "p", main=None, output=tmp_path / "p.pdf")
    assert (folder.name, folder.main, sorted(folder.files)) == (
        "p",
        None,
        ["img.png", "main.tex"],
    )
    with pytest.raises(UsageError, match="no such file"):
        load_project(tmp_path / "nope", main=None, output=tmp_path / "x.pdf")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no files"):
        load_project(tmp_path / "empty", main=None, output=tmp_path / "x.pdf")
