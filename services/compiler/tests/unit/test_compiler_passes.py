"""When to run BibTeX/Biber and when another engine pass is due."""

from texpipe_compiler import latex_commands as cmd
from texpipe_compiler import passes

MAIN = cmd.MainFile("main.tex")


def test_boilerplate_aux_counts_as_absent_so_hello_needs_one_pass() -> None:
    trivial = {"main.aux": b"\\relax \n\\gdef \\@abspage@last{1}\n"}
    assert passes.aux_snapshot(trivial) == passes.aux_snapshot({}) == {}


def test_labels_or_a_toc_make_the_state_change() -> None:
    before = passes.aux_snapshot({})
    after = passes.aux_snapshot({"main.aux": b"\\relax\n\\newlabel{a}{{1}{1}}\n"})
    assert before != after
    again = passes.aux_snapshot({"main.aux": b"\\relax\n\\newlabel{a}{{1}{1}}\n"})
    assert after == again


def test_rerun_hints_in_the_log() -> None:
    assert passes.rerun_requested(b"LaTeX Warning: Label(s) may have changed. Rerun to get ...")
    assert passes.rerun_requested(b"Package rerunfilecheck Warning: File `output.out' has changed.")
    assert not passes.rerun_requested(b"Output written on output.pdf (1 page).")
    # A hint far into a big log, after many pieces, is still found.
    assert passes.rerun_requested(b"x" * 100 + b"\n" * 3_000_000 + b"Rerun to get it right.\n")


def test_bibtex_signature_follows_citations_and_databases() -> None:
    assert passes.bibtex_signature({"main.aux": b"\\citation{a}\n"}) is None
    one = passes.bibtex_signature({"main.aux": b"\\citation{a}\n\\bibdata{refs}\n"})
    two = passes.bibtex_signature({"main.aux": b"\\citation{a}\n\\bibdata{refs}\n\\newlabel{x}{}"})
    three = passes.bibtex_signature(
        {"main.aux": b"\\bibdata{refs}\n", "ch/intro.aux": b"\\citation{b}\n"}
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
    assert not passes.should_run_bibtex(["refs"], ["main.tex", "main.bbl"], has_bbl=True)
    assert passes.should_run_bibtex(["refs"], ["main.tex", "refs.bib"], has_bbl=True)


def test_biber_only_for_a_biblatex_control_file() -> None:
    assert passes.biber_signature(None) is None
    assert passes.biber_signature(b"<xml/>") is None
    assert passes.biber_signature(b"<bcf:controlfile version='3.8'>") is not None


def test_a_large_file_of_boilerplate_lines_is_hashed_not_ignored() -> None:
    """Only a small file is read line by line; a document cannot make the host match
    millions of boilerplate lines to decide that nothing is there."""
    big = {"big.aux": b"\\relax\n" * 100_000}
    assert set(passes.aux_snapshot(big)) == {"big.aux"}


def test_a_state_not_read_whole_never_counts_as_settled() -> None:
    files = {"main.aux": b"\\relax\n\\newlabel{a}{{1}{1}}\n"}
    whole = passes.aux_state(passes.AuxFiles(files, frozenset(files), complete=True))
    cut = passes.aux_state(passes.AuxFiles(files, frozenset(files), complete=False))
    assert whole.settled_since(whole)
    assert not cut.settled_since(whole)
    assert not whole.settled_since(cut)


def test_the_bibliography_run_that_is_due() -> None:
    aux = {"main.aux": b"\\citation{a}\n\\bibdata{refs}\n\\bibstyle{plain}\n"}
    found = passes.AuxFiles(aux, frozenset(aux), complete=True)
    due = passes.bibliography_due(
        found, None, main=MAIN, project_paths=["main.tex", "refs.bib"], done=None
    )
    assert due is not None
    assert due.tool == "bibtex"
    again = passes.bibliography_due(
        found, None, main=MAIN, project_paths=["main.tex"], done=due.signature
    )
    assert again is None
    # A shipped .bbl without its databases is kept, whether or not its bytes were read.
    shipped = passes.AuxFiles(aux, frozenset({*aux, "main.bbl"}), complete=False)
    kept = passes.bibliography_due(shipped, None, main=MAIN, project_paths=["main.tex"], done=None)
    assert kept is None
    bcf = b"<bcf:controlfile version='3.8'>"
    biber = passes.bibliography_due(found, bcf, main=MAIN, project_paths=["main.tex"], done=None)
    assert biber is not None
    assert biber.tool == "biber"


def test_bib_lines_are_found_across_pieces() -> None:
    filler = b"%" * 1000 + b"\n"
    data = filler * 3000 + b"\\bibdata{refs}\n" + filler * 3000 + b"\\citation{z}\n"
    assert passes.bib_databases(data) == ["refs"]
    short = passes.bibtex_signature({"main.aux": b"\\bibdata{refs}\n\\citation{z}\n"})
    assert passes.bibtex_signature({"main.aux": data}) == short


def _aux(files: dict[str, bytes]) -> passes.AuxFiles:
    return passes.AuxFiles(files, frozenset(files), complete=True)


def test_an_index_is_built_with_the_projects_style_and_only_when_it_changed() -> None:
    main = cmd.MainFile("book/Book One.tex")
    aux = _aux({"book/Book One.idx": b"\\indexentry{a}{1}\n", "book/Book One.aux": b"\\relax\n"})
    runs = passes.index_runs(aux, main, project_paths=["book/book.ist"], done={})
    assert [r.argv for r in runs] == [
        ["makeindex", "-q", "-s", "./book.ist", "-o", "./Book One.ind", "./Book One.idx"]
    ]
    done = {r.key: r.signature for r in runs}
    assert passes.index_runs(aux, main, project_paths=["book/book.ist"], done=done) == []
    changed = _aux({"book/Book One.idx": b"\\indexentry{b}{2}\n"})
    assert len(passes.index_runs(changed, main, project_paths=[], done=done)) == 1


def test_glossaries_run_as_makeglossaries_would() -> None:
    main = cmd.MainFile("main.tex")
    main_aux = (
        b"\\@istfilename{main.ist}\n\\@glsorder{letter}\n"
        b"\\@newglossary{main}{glg}{gls}{glo}\n\\@newglossary{acronym}{alg}{acr}{acn}\n"
    )
    aux = _aux({"main.aux": main_aux, "main.glo": b"x", "main.acn": b"y"})
    argvs = [r.argv for r in passes.index_runs(aux, main, project_paths=[], done={})]
    assert ["makeindex", "-l", "-q", "-s", "./main.ist", "-t", "./main.glg", "-o",
            "./main.gls", "./main.glo"] in argvs  # fmt: skip
    assert any("./main.acn" in argv for argv in argvs)
    xdy = main_aux.replace(b"main.ist", b"main.xdy") + b"\\@xdylanguage{main}{german}\n"
    argv = passes.index_runs(_aux({"main.aux": xdy, "main.glo": b"x"}), main,
                             project_paths=[], done={})[0].argv  # fmt: skip
    assert argv[:5] == ["xindy", "-L", "german", "-C", "utf8"]


def test_nomenclature_and_what_a_document_cannot_steer() -> None:
    main = cmd.MainFile("main.tex")
    runs = passes.index_runs(_aux({"main.nlo": b"x"}), main, project_paths=[], done={})
    assert runs[0].argv == ["makeindex", "-q", "-s", "nomencl.ist", "-t", "./main.nlg",
                            "-o", "./main.nls", "./main.nlo"]  # fmt: skip
    hostile = b"\\@istfilename{`touch x`.ist}\n\\@newglossary{main}{glg}{gls}{../../x}\n"
    aux = _aux({"main.aux": hostile, "main.glo": b"x"})
    assert passes.index_runs(aux, main, project_paths=[], done={}) == []
    # An index input in another folder than the main file's is not TeX's output.
    assert passes.index_runs(_aux({"other/x.idx": b"x"}), main, project_paths=[], done={}) == []


def test_glossaries_of_a_job_name_with_spaces_and_accents() -> None:
    main = cmd.MainFile("Thèse finale.tex")
    main_aux = "\\@istfilename{Thèse finale.ist}\n\\@newglossary{main}{glg}{gls}{glo}\n".encode()
    aux = _aux({"Thèse finale.aux": main_aux, "Thèse finale.glo": b"x"})
    [run] = passes.index_runs(aux, main, project_paths=[], done={})
    assert run.argv[run.argv.index("-s") + 1] == "./Thèse finale.ist"
    assert run.argv[-1] == "./Thèse finale.glo"


def test_a_glossary_with_its_own_extensions_runs_though_its_input_is_not_listed() -> None:
    main = cmd.MainFile("main.tex")
    main_aux = b"\\@istfilename{main.ist}\n\\@newglossary{notation}{nlg}{not}{ntn}\n"
    [run] = passes.index_runs(_aux({"main.aux": main_aux}), main, project_paths=[], done={})
    assert run.argv[-3:] == ["-o", "./main.not", "./main.ntn"]
