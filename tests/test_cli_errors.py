"""User errors a newcomer runs into: one line on standard error, no traceback, exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize("command", [["build", "-o", "site"], ["render", "handout"], ["audit"]])
def test_templates_option_names_what_is_wrong(command, mini_kb, tmp_path, run_kb):
    """--templates: a missing folder and a file are told apart, in one line, exit 1."""
    (tmp_path / "a-file.txt").write_text("x", encoding="utf-8")
    for given, state in ((tmp_path / "nope", "does not exist"), (tmp_path / "a-file.txt", "is not a folder")):
        code, out, err = run_kb(mini_kb, *command, "--templates", str(given))
        assert (code, out, err) == (1, "", f"kb: error: template folder {str(given)!r} {state}\n")


LOADING = [["check"], ["list"], ["show", "conclusie"], ["export"], ["why", "conclusie"], ["impact", "geneen2017"], ["stats"],
           ["cocite"], ["graph", "-o", "g.dot"], ["build"], ["audit"], ["render", "handout"], ["import", "x.bib"],
           ["retractions", "x.csv"]]


@pytest.mark.parametrize("command", LOADING, ids=lambda c: c[0])
def test_a_wrong_kb_folder(command, tmp_path, run_kb):
    (tmp_path / "x.bib").write_text("", encoding="utf-8")
    (tmp_path / "x.csv").write_text("Record ID,OriginalPaperDOI,OriginalPaperPubMedID,RetractionNature\n", encoding="utf-8")
    code, out, err = run_kb(tmp_path, "--kb", str(tmp_path / "typo"), *command)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("kb: error: ") and "typo" in err and "Traceback" not in err
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("command", [["export"], ["why", "conclusie"], ["impact", "geneen2017"], ["stats"], ["cocite"],
                                     ["audit"], ["render", "handout"], ["graph", "--format", "dot"]], ids=lambda c: c[0])
def test_an_existing_output_file_needs_force(command, mini_kb, tmp_path, run_kb):
    target = tmp_path / "out.txt"
    target.write_text("mine", encoding="utf-8")
    code, out, err = run_kb(mini_kb, *command, "-o", str(target))
    assert code == 1 and err.count("\n") == 1 and "pass --force to overwrite it" in err
    assert target.read_text(encoding="utf-8") == "mine"
    code, out, err = run_kb(mini_kb, *command, "-o", str(target), "--force")
    assert code == 0 and target.read_text(encoding="utf-8") != "mine"


@pytest.mark.parametrize("command", [["show", "conclusi"], ["why", "conclusi"], ["impact", "geneen2071"], ["list", "--ref", "nope"],
                                     ["render", "handout", "--claims", "nope"]], ids=lambda c: c[0])
def test_unknown_ids(command, mini_kb, run_kb):
    code, out, err = run_kb(mini_kb, *command)
    assert code == 1 and out == "" and err.count("\n") == 1 and err.startswith("kb: error: ") and "Traceback" not in err


@pytest.mark.parametrize("command", [["show", "conclusie"], ["show", "conclusie", "--format", "json"],
                                     ["render", "audit"], ["render", "handout"], ["build", "-o", "site"]],
                         ids=lambda c: "-".join(c))
def test_an_unknown_style_is_an_error_before_any_work(command, mini_kb, run_kb):
    """Also where the command would format no reference: a claim without evidence of its own, JSON, the audit."""
    code, out, err = run_kb(mini_kb, *command, "--style", "vancover")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith("kb: error: unknown citation style 'vancover'") and "vancouver" in err
    assert not (mini_kb / "site").exists()


@pytest.mark.parametrize("argv, usage", [(["list", "--bogus"], "kb list"), (["render", "handout", "--bogus"], "kb render"),
                                         (["--bogus", "list"], "kb")], ids=["after-command", "after-argument", "before-command"])
def test_an_unknown_option_is_told_with_the_usage_of_what_it_follows(argv, usage, mini_kb, run_kb):
    code, out, err = run_kb(mini_kb, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"usage: {usage} [-h]") and err.endswith(f"\n{usage}: error: unrecognized arguments: --bogus\n")


EXTRACT_DATA = Path(__file__).parent / "data" / "extract"


def test_extract_into_a_file_is_one_line(tmp_path, run_kb):
    (tmp_path / "afile").write_text("", encoding="utf-8")
    code, out, err = run_kb(tmp_path, "extract", str(EXTRACT_DATA / "strength-training-older-adults.md"),
                            "--bib", str(EXTRACT_DATA / "zotero-export.bib"), "-o", "afile")
    assert (code, out) == (1, "")
    assert err == "kb: error: cannot make the folder 'afile/claims': Not a directory; name a folder you can write to with -o (or --kb)\n"


def test_extract_with_a_missing_bibliography_makes_no_folder(tmp_path, run_kb):
    code, out, err = run_kb(tmp_path, "extract", str(EXTRACT_DATA / "strength-training-older-adults.md"),
                            "--bib", "nonexist.bib", "-o", "newkb")
    assert (code, out, err) == (1, "", "kb: error: 'nonexist.bib': no such file\n")
    assert not (tmp_path / "newkb").exists()


def test_a_knowledge_base_folder_that_cannot_be_entered_is_one_line(mini_kb, run_kb, monkeypatch):
    import kb.load

    monkeypatch.setattr(kb.load.os, "access", lambda path, mode: False)  # as chmod 000 does for anyone but root
    monkeypatch.setenv("KB_CACHE", "0")
    code, out, err = run_kb(mini_kb.parent, "--kb", "kb", "check")
    assert (code, out) == (1, "")
    assert err == "kb: error: cannot read the knowledge base folder 'kb': permission denied; give yourself read access to it (chmod u+rx)\n"


@pytest.mark.parametrize("folder", ["references", "articles"])
def test_a_folder_that_cannot_be_listed_is_named(folder, mini_kb, run_kb, monkeypatch):
    """Path.glob finds nothing in it without a word: the cause must be told, and not drowned in what follows from it
    (an unknown-ref or unknown-article error for every claim)."""
    import os

    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).rstrip("/").endswith(folder):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setenv("KB_CACHE", "0")
    code, out, err = run_kb(mini_kb, "check")
    assert code == 1 and f"{folder}: error: cannot read folder: Permission denied [unreadable]" in err.splitlines()
    assert "[unknown-ref]" not in err and "[unknown-article]" not in err, err  # what follows from it is not told claim by claim


@pytest.mark.parametrize("command", ["stats", "audit"])
@pytest.mark.parametrize("value", ["-5", "0", "12345678901234567890", "abc", "0999"])
def test_as_of_takes_a_year(command, value, mini_kb, run_kb):
    """--as-of -5 printed "references by age (years before -5)"."""
    code, out, err = run_kb(mini_kb, command, f"--as-of={value}")
    assert (code, out) == (2, "") and err.endswith(f"kb {command}: error: argument --as-of: invalid year value: '{value}'\n")


@pytest.mark.parametrize("argv, message", [
    (["list", "--tag", ""], "kb list: error: argument --tag: expected a tag, got ''"),
    (["list", "--tag", " "], "kb list: error: argument --tag: expected a tag, got ' '"),
    (["list", "--ref", ""], "kb list: error: argument --ref: expected a reference key, got ''"),
    (["list", "--section", ""], "kb list: error: argument --section: expected a section id, got ''"),
    (["render", "handout", "--claims", ",,,"], "kb render: error: argument --claims: expected comma-separated claim ids and/or tags, got ',,,'"),
    (["render", "handout", "--claims", ""], "kb render: error: argument --claims: expected comma-separated claim ids and/or tags, got ''"),
    (["render", "article", "--claims", "pain,"], "kb render: error: argument --claims: empty item in 'pain,'; remove the extra comma"),
    (["render", "article", "--claims", "pain,,veilig"], "kb render: error: argument --claims: empty item in 'pain,,veilig'; remove the extra comma"),
    (["build", "-o", ""], "kb build: error: argument -o/--output: expected a folder, got ''"),
    (["build", "--style", " "], "kb build: error: argument --style: expected a style name, got ' '"),
    (["build", "--templates", ""], "kb build: error: argument --templates: expected a folder, got ''"),
    (["render", "handout", "-o", ""], "kb render: error: argument -o/--output: expected a file name, got ''"),
    (["render", "article", "--article", ""], "kb render: error: argument --article: expected an article id, got ''"),
    (["show", "x", "--style", ""], "kb show: error: argument --style: expected a style name, got ''"),
    (["export", "--format", "csl-json", "-o", ""], "kb export: error: argument -o/--output: expected a file name, got ''"),
    (["--kb", "", "check"], "kb: error: argument --kb: expected a folder, got ''"),
    (["init", ""], "kb init: error: argument DIR: expected a folder, got ''"),
    (["graph", "-o", ""], "kb graph: error: argument -o/--output: expected a file name, got ''"),
    (["audit", "--templates", ""], "kb audit: error: argument --templates: expected a folder, got ''"),
    (["extract", "a.md", "--bib", "a.bib", "--id", ""], "kb extract: error: argument --id: expected an article id, got ''"),
    # a file name: these were 'kb: error: .: cannot read: Is a directory', exit 1
    (["import", ""], "kb import: error: argument FILE: expected a file name, got ''"),
    (["import", " ", "--dry-run"], "kb import: error: argument FILE: expected a file name, got ' '"),
    (["retractions", ""], "kb retractions: error: argument FILE: expected a file name, got ''"),
    (["extract", "", "--bib", "a.bib"], "kb extract: error: argument ARTICLE: expected a file name, got ''"),
    (["extract", "a.md", "--bib", "a.bib", "--bib", ""], "kb extract: error: argument --bib: expected a file name, got ''"),
], ids=lambda v: repr(v) if isinstance(v, list) else "")
def test_an_empty_name_or_list_item_is_a_usage_error(argv, message, mini_kb, run_kb):
    """--tag '' (an unset shell variable) and --claims ,,, passed as no filter at all: every claim was listed or rendered;
    an empty -o, --style, --templates, --article or --id meant the default (kb render -o '' printed the handout); an empty
    FILE of kb import or kb retractions, or ARTICLE or --bib of kb extract, was read as the current folder."""
    code, out, err = run_kb(mini_kb, *argv)
    assert (code, out) == (2, "") and err.startswith("usage: ") and err.endswith(f"\n{message}\n") and "Traceback" not in err


def test_a_template_that_is_not_utf8_is_named_with_its_line_and_column(mini_kb, run_kb):
    own = mini_kb / "templates" / "site"
    own.mkdir(parents=True)
    (own / "claim.html.j2").write_bytes(b'{% extends "builtin/site/claim.html.j2" %}\n{# caf\xe9 #}\n')
    code, out, err = run_kb(mini_kb, "build", "-o", "site")
    assert code == 1 and "Traceback" not in err and not (mini_kb / "site").exists()
    assert err.splitlines()[-1] == ("templates/site/claim.html.j2:2:7: error: 'site/claim.html.j2' is not UTF-8 text (byte 0xe9); "
                                    "save it as UTF-8, or remove it to use the built-in one")


def test_a_template_linked_from_outside_is_refused_by_name(mini_kb, tmp_path, run_kb):
    own = mini_kb / "templates" / "site"
    own.mkdir(parents=True)
    (tmp_path / "elsewhere.j2").write_text("{{ 1 }}", encoding="utf-8")
    (own / "claim.html.j2").symlink_to(tmp_path / "elsewhere.j2")
    code, out, err = run_kb(mini_kb, "build", "-o", "site")
    assert code == 1 and not (mini_kb / "site").exists()
    assert err.splitlines()[-1].startswith("kb: error: template 'site/claim.html.j2' (") and \
        err.splitlines()[-1].endswith("is a link to a file outside the template folders; it is not read; "
                                      "copy the file into the templates folder instead of linking to it")
