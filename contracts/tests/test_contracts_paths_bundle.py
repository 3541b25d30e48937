"""Path rules and the deterministic source bundle."""

import hashlib
import io
import tarfile

import pytest
from texpipe_contracts.bundle import build_bundle, source_key
from texpipe_contracts.paths import (
    PathRuleError,
    check_path_set,
    check_project_path,
    normalize_path,
)


@pytest.mark.parametrize(
    "path",
    [
        "main.tex",
        "chapters/intro.tex",
        "figures/fig-1.pdf",
        "a+b_c.bib",
        "x/y/z.sty",
        # What authors have on disk: spaces, punctuation, accents, any script, dot files.
        "Sparse DGI/sparse_dgi.tex",
        "Fonts/Tinos/Apache License.txt",
        "notes/Read me (draft).txt",
        "Übersetzung/Kapitel 1.tex",
        "论文/引言.tex",
        "latexmkrc",
        ".latexmkrc",
        "-shell-escape.tex",
        "main`touch x`.tex",
        "/".join(["d"] * 40) + "/deep.tex",
    ],
)
def test_what_authors_send_passes(path: str) -> None:
    assert check_project_path(path) == path


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("../secret.tex", "'..'"),
        ("a/../../b.tex", "'..'"),
        ("./main.tex", "'.'"),
        ("a\\b.tex", "backslash"),
        ("a\x00.tex", "U\\+0000"),
        ("a.tex\n", "U\\+000A"),
        ("dir\r/main.tex", "U\\+000D"),
        ("a\x7f.tex", "U\\+007F"),
        ("evil\u202egpj.tex", "U\\+202E"),
        ("a\u2028b.tex", "U\\+2028"),
        ("a\udc80b.tex", "surrogate"),
        ("a//b.tex", "empty segment"),
        ("a/", "empty segment"),
        ("x" * 256 + ".tex", "255 bytes"),
        ("é" * 128 + ".tex", "255 bytes"),
        ("/".join(["d" * 200] * 6), "1024 bytes"),
    ],
)
def test_bad_paths_are_refused_naming_the_rule(path: str, rule: str) -> None:
    with pytest.raises(PathRuleError, match=rule) as caught:
        check_project_path(path)
    assert str(caught.value)


def test_paths_are_compared_in_nfc() -> None:
    assert normalize_path("Cafe\u0301.tex") == "Caf\u00e9.tex"
    with pytest.raises(PathRuleError, match="letter case"):
        check_path_set(["Cafe\u0301.tex", "caf\u00e9.tex"])


@pytest.mark.parametrize(
    ("paths", "rule"),
    [
        (["Main.tex", "main.tex"], "letter case"),
        (["fig/a.png", "FIG/b.png", "Fig"], "both a file and a folder"),
        (["a", "a/b.tex"], "both a file and a folder"),
    ],
)
def test_a_project_has_no_case_collisions(paths: list[str], rule: str) -> None:
    with pytest.raises(PathRuleError, match=rule):
        check_path_set(paths)


def test_distinct_paths_pass_as_a_set() -> None:
    check_path_set(["main.tex", "chapters/one.tex", "chapters/two.tex", "README"])


def test_the_same_files_give_the_same_bundle_whatever_their_order() -> None:
    first = build_bundle({"main.tex": b"\\input{b}", "b.tex": b"B"})
    second = build_bundle({"b.tex": b"B", "main.tex": b"\\input{b}"})
    assert first.data == second.data
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()
    assert first.key == source_key(first.sha256) == f"sources/{first.sha256}.tar"
    assert build_bundle({"main.tex": b"other"}).sha256 != first.sha256


def test_a_bundle_holds_only_regular_files_with_fixed_metadata() -> None:
    bundle = build_bundle({"main.tex": b"hello", "sub/x.tex": b"x"})
    with tarfile.open(fileobj=io.BytesIO(bundle.data)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["main.tex", "sub/x.tex"]
    assert all(m.isreg() and m.mtime == 0 and m.uid == 0 and m.mode == 0o644 for m in members)


def test_a_bundle_refuses_a_bad_path() -> None:
    with pytest.raises(PathRuleError):
        build_bundle({"../x.tex": b""})
