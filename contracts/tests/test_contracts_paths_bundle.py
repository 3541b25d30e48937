"""Path rules and the deterministic source bundle."""

import hashlib
import io
import tarfile

import pytest
from texpipe_contracts.bundle import build_bundle, source_key
from texpipe_contracts.paths import PathRuleError, check_project_path


@pytest.mark.parametrize(
    "path", ["main.tex", "chapters/intro.tex", "figures/fig-1.pdf", "a+b_c.bib", "x/y/z.sty"]
)
def test_ordinary_paths_pass(path: str) -> None:
    assert check_project_path(path) == path


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("../secret.tex", "'..'"),
        ("a/../../b.tex", "'..'"),
        ("a\\b.tex", "backslash"),
        ("a\x00.tex", "NUL"),
        ("-shell-escape.tex", "must not start with '-'"),
        (".hidden.tex", "must not start"),
        ("latexmkrc", "not allowed"),
        ("sub/texmf.cnf", "not allowed"),
        ("main`touch x`.tex", "only letters"),
        ("name with space.tex", "only letters"),
        ("a.tex\n", "only letters"),
        ("dir\n/main.tex", "only letters"),
        ("a//b.tex", "empty"),
        ("/".join(["d"] * 9) + ".tex", "deeper"),
    ],
)
def test_bad_paths_are_refused_naming_the_rule(path: str, rule: str) -> None:
    with pytest.raises(PathRuleError, match=rule.replace("(", r"\(")) as caught:
        check_project_path(path)
    assert str(caught.value)


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
