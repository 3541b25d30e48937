"""When to run BibTeX/Biber and when another engine pass is due."""

from texpipe_compiler import passes


def test_boilerplate_aux_counts_as_absent_so_hello_needs_one_pass() -> None:
    trivial = {"output.aux": b"\\relax \n\\gdef \\@abspage@last{1}\n"}
    assert passes.aux_snapshot(trivial) == passes.aux_snapshot({}) == {}


def test_labels_or_a_toc_make_the_state_change() -> None:
    before = passes.aux_snapshot({})
    after = passes.aux_snapshot({"output.aux": b"\\relax\n\\newlabel{a}{{1}{1}}\n"})
    assert before != after
    again = passes.aux_snapshot({"output.aux": b"\\relax\n\\newlabel{a}{{1}{1}}\n"})
    assert after == again


def test_rerun_hints_in_the_log() -> None:
    assert passes.rerun_requested("LaTeX Warning: Label(s) may have changed. Rerun to get ...")
    assert passes.rerun_requested("Package rerunfilecheck Warning: File `output.out' has changed.")
    assert not passes.rerun_requested("Output written on output.pdf (1 page).")


def test_bibtex_signature_follows_citations_and_databases() -> None:
    assert passes.bibtex_signature({"output.aux": b"\\citation{a}\n"}) is None
    one = passes.bibtex_signature({"output.aux": b"\\citation{a}\n\\bibdata{refs}\n"})
    two = passes.bibtex_signature(
        {"output.aux": b"\\citation{a}\n\\bibdata{refs}\n\\newlabel{x}{}"}
    )
    three = passes.bibtex_signature(
        {"output.aux": b"\\bibdata{refs}\n", "ch/intro.aux": b"\\citation{b}\n"}
    )
    assert one is not None
    assert one == two
    assert three not in {None, one}


def test_bib_databases_and_a_shipped_bbl() -> None:
    assert passes.bib_databases(b"\\bibdata{refs, more}\n\\bibdata{x.bib}\n") == [
        "refs",
        "more",
        "x.bib",
    ]
    assert passes.should_run_bibtex(["refs"], ["main.tex"], has_bbl=False)
    assert not passes.should_run_bibtex(["refs"], ["main.tex", "output.bbl"], has_bbl=True)
    assert passes.should_run_bibtex(["refs"], ["main.tex", "refs.bib"], has_bbl=True)


def test_biber_only_for_a_biblatex_control_file() -> None:
    assert passes.biber_signature(None) is None
    assert passes.biber_signature(b"<xml/>") is None
    assert passes.biber_signature(b"<bcf:controlfile version='3.8'>") is not None
