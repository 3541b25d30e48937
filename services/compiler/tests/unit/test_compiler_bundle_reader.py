"""Unpack rules: only a plain set of allowlisted regular files gets through."""

import io
import tarfile

import pytest
from texpipe_compiler.bundle_reader import BundleLimits, read_bundle, require_main_file
from texpipe_compiler.errors import SourceRejectedError
from texpipe_contracts.bundle import build_bundle

LIMITS = BundleLimits(max_files=10, max_bytes=1000)


def tar_of(*members: tuple[str, bytes | None, bytes]) -> bytes:
    """(name, content or None, type) members, with no checks at all."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = "/etc/passwd"
            info.size = len(content or b"")
            tar.addfile(info, io.BytesIO(content) if content else None)
    return buffer.getvalue()


def test_unusual_names_and_build_files_are_plain_data() -> None:
    names = ["latexmkrc", ".latexmkrc", "Sparse DGI/x y.tex", "-x.tex", "Übung (1).tex"]
    files = read_bundle(build_bundle(dict.fromkeys(names, b"x")).data, LIMITS)
    assert sorted(f.path for f in files) == sorted(names)


def test_a_contract_bundle_reads_back_file_by_file() -> None:
    bundle = build_bundle({"main.tex": b"hello", "chapters/a.tex": b"a"})
    files = read_bundle(bundle.data, LIMITS)
    assert {f.path: f.data for f in files} == {"chapters/a.tex": b"a", "main.tex": b"hello"}


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ((("leak.tex", None, tarfile.SYMTYPE),), "symbolic link"),
        ((("leak.tex", None, tarfile.LNKTYPE),), "hard link"),
        ((("dev", None, tarfile.CHRTYPE),), "device"),
        ((("fifo", None, tarfile.FIFOTYPE),), "device"),
        ((("dir", None, tarfile.DIRTYPE),), "directory"),
        ((("/etc/x.tex", b"x", tarfile.REGTYPE),), "absolute"),
        ((("../x.tex", b"x", tarfile.REGTYPE),), "'..'"),
        ((("a/../../x.tex", b"x", tarfile.REGTYPE),), "outside"),
        ((("a\\b.tex", b"x", tarfile.REGTYPE),), "backslash"),
        ((("a\rb.tex", b"x", tarfile.REGTYPE),), "control character"),
        ((("A.tex", b"x", tarfile.REGTYPE), ("a.tex", b"y", tarfile.REGTYPE)), "letter case"),
        ((("a.tex", b"x", tarfile.REGTYPE), ("a.tex", b"y", tarfile.REGTYPE)), "twice"),
        ((("a", b"x", tarfile.REGTYPE), ("a/b.tex", b"y", tarfile.REGTYPE)), "both a file"),
        ((("big.tex", b"x" * 1001, tarfile.REGTYPE),), "exceed 1000 bytes"),
        (tuple((f"f{i}.tex", b"x", tarfile.REGTYPE) for i in range(11)), "more than 10 files"),
    ],
)
def test_a_bundle_breaking_a_rule_is_rejected_with_the_reason(
    members: tuple[tuple[str, bytes | None, bytes], ...], reason: str
) -> None:
    with pytest.raises(SourceRejectedError, match=reason.replace("(", r"\(")):
        read_bundle(tar_of(*members), LIMITS)


def test_compressed_or_garbage_bundles_are_rejected() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.addfile(tarfile.TarInfo("main.tex"), io.BytesIO(b""))
    for data in (buffer.getvalue(), b"not a tar", b""):
        with pytest.raises(SourceRejectedError):
            read_bundle(data, LIMITS)


def test_the_main_file_must_be_a_tex_file_of_the_project() -> None:
    files = read_bundle(build_bundle({"main.tex": b"x", "refs.bib": b"y"}).data, LIMITS)
    require_main_file(files, "main.tex")
    with pytest.raises(SourceRejectedError, match="not in the project"):
        require_main_file(files, "other.tex")
    with pytest.raises(SourceRejectedError, match=r"\.tex"):
        require_main_file(files, "refs.bib")
