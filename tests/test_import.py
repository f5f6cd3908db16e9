"""kb import (BibTeX, CSL-JSON, RIS in) and kb export --format csl-json|bibtex|ris (out)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kb.bib import parse_bib_file
from kb.cli import main
from kb.importers import Record, import_file, make_key, normalize_pmcid, normalize_pmid, read_records
from kb.load import load_kb
from kb.model import Author
from kb.scaffold import init_kb

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "extract"


@pytest.fixture
def kb_dir(tmp_path):
    init_kb(tmp_path / "kb")
    return tmp_path / "kb"


def refs_in(path):
    return {r.key: r for r in parse_bib_file(path, path.name)[1]}


def test_zotero_bibtex_import_dedupes_and_keeps_existing_files(kb_dir):
    example = (kb_dir / "references" / "example.bib").read_bytes()
    result = import_file(kb_dir, DATA / "zotero-export.bib")
    assert result.duplicates == [("geneen_physical_2017", "geneen2017", "same DOI 10.1002/14651858.cd011279.pub3")]
    assert len(result.added) == 8 and ("lim_effects_2024", "lim_effects_2024") in result.added
    assert (kb_dir / "references" / "example.bib").read_bytes() == example
    text = (kb_dir / "references" / "imported.bib").read_text(encoding="utf-8")
    assert "\tdoi = {10.1016/s0749-3797(03)00177-6},\n" in text  # DOI normalised in place, Zotero's tab layout kept
    assert "\turl = {https://doi.org/10.1016/S0749-3797(03)00177-6},\n" in text
    refs = refs_in(kb_dir / "references" / "imported.bib")
    assert refs["fragala_resistance_2019"].pmid == "31343601"
    assert refs["lemos_influence_2020"].journal == "Revista Brasileira de Cineantropometria & Desempenho Humano"
    again = import_file(kb_dir, DATA / "zotero-export.bib")
    assert again.added == [] and len(again.duplicates) == 9


@pytest.mark.parametrize("eol", ["\r\n", "\n"], ids=["crlf", "lf"])
@pytest.mark.parametrize("source", ["zotero-export.bib", "refs.ris"])
def test_appending_keeps_the_files_line_ending(kb_dir, eol, source):
    """A CRLF .bib (saved on Windows) got LF lines appended, and its own lines rewritten as LF."""
    target = kb_dir / "references" / "mine.bib"
    mine = "@article{abc2020,\n  author = {Abc, Anna},\n  title = {A title},\n  year = {2020},\n  doi = {10.1000/abc}\n}".replace("\n", eol)
    target.write_bytes(mine.encode())  # no line break at the end: one is added, in the same style
    result = import_file(kb_dir, DATA / source, target="mine.bib")
    assert result.added
    data = target.read_bytes()
    assert data.startswith((mine + eol).encode())
    assert data.count(b"\n") == data.count(eol.encode()) and b"\r\r" not in data and data.endswith(eol.encode())
    assert {k for k, _ in result.added} <= set(refs_in(target))


def test_csl_json_import(kb_dir):
    result = import_file(kb_dir, DATA / "refs-csl.json", target="csl.bib")
    # a URL id gets a generated key; a plain id is kept
    assert result.added == [("lauersen2014", "http://zotero.org/users/local/kbtest/items/LAUERSEN"), ("seguin_nodoi", "seguin_nodoi")]
    assert result.duplicates == [("geneen2017cochrane", "geneen2017", "same DOI 10.1002/14651858.cd011279.pub3")]
    ref = refs_in(kb_dir / "references" / "csl.bib")["lauersen2014"]
    assert (ref.doi, ref.pmid, ref.pages, ref.volume, ref.number, ref.year) == ("10.1136/bjsports-2013-092538", "24100287", "871\u2013877", "48", "11", 2014)  # Reference.pages: LaTeX -- as an en dash
    records, _ = read_records(DATA / "refs-csl.json")
    assert (records[1].fields["doi"], records[1].fields["pmid"], records[1].fields["pmcid"]) == (
        "10.1002/14651858.cd011279.pub3", "28436583", "PMC5461882")


def test_title_and_year_dedupe_when_there_is_no_doi(kb_dir):
    import_file(kb_dir, DATA / "zotero-export.bib")
    result = import_file(kb_dir, DATA / "refs-csl.json", target="csl.bib")
    assert ("seguin_nodoi", "seguin_benefits_2003", "same title and year") in result.duplicates


def test_ris_import(kb_dir):
    result = import_file(kb_dir, DATA / "refs.ris")
    assert [k for k, _ in result.added] == ["lim2024", "fragala2019"]
    refs = refs_in(kb_dir / "references" / "imported.bib")
    assert (refs["lim2024"].pmid, refs["lim2024"].doi) == ("39728043", "10.3390/jpm14121130")
    assert (refs["fragala2019"].pmid, refs["fragala2019"].doi, refs["fragala2019"].pages) == ("31343601", "10.1519/jsc.0000000000003230", "2019\u20132052")
    assert [a.family for a in refs["fragala2019"].authors][:2] == ["Fragala", "Cadore"]


def test_never_changes_an_existing_key_and_generates_suffixed_keys(kb_dir):
    import_file(kb_dir, DATA / "zotero-export.bib")
    # a record whose own key is taken by a different work gets a generated key; the existing entry keeps its key
    (kb_dir / "clash.bib").write_text("@article{lim_effects_2024,\n  author = {Lim, A.},\n  title = {Synthetic record, not a real paper},\n"
                                      "  year = {2024}\n}\n", encoding="utf-8")
    result = import_file(kb_dir, kb_dir / "clash.bib")
    assert result.added == [("lim2024", "lim_effects_2024")]
    assert "lim_effects_2024" in refs_in(kb_dir / "references" / "imported.bib")
    synthetic = Record("x", "article", {"year": "2019", "title": "T"}, [Author("van der Müller", "A.")])
    assert make_key(synthetic, set()) == "vandermuller2019"
    assert make_key(synthetic, {"vandermuller2019"}) == "vandermuller2019a"
    assert make_key(synthetic, {"vandermuller2019", "vandermuller2019a"}) == "vandermuller2019b"
    assert make_key(Record("y", "misc", {"title": "Guidance"}, []), set()) == "guidancend"


def test_identifiers_are_normalised_and_malformed_ones_flagged(tmp_path):
    assert normalize_pmid("PMID: 28436583") == "28436583"
    assert normalize_pmcid("pmc5461882") == "PMC5461882"
    ris = tmp_path / "bad.ris"
    ris.write_text("TY  - JOUR\nTI  - Synthetic record with broken identifiers\nAU  - Tester, A.\nPY  - 2020\nDO  - 10.1002\n"
                   "N1  - PMID: 12ab\nER  - \n", encoding="utf-8")
    _records, problems = read_records(ris)
    assert [(p.code, p.severity.value) for p in problems] == [("bad-doi", "warning"), ("bad-pmid", "warning")]
    assert "malformed DOI '10.1002'" in problems[0].message


def test_biblatex_extended_names_and_date(tmp_path, kb_dir):
    bib = tmp_path / "bbt.bib"
    bib.write_text("@article{esch2019,\n  author = {family=Esch, given=Martin, prefix=van der, useprefix=true and Smith, John},\n"
                   "  title = {Synthetic record, not a real paper},\n  date = {2019-04-01}\n}\n", encoding="utf-8")
    result = import_file(kb_dir, bib)
    ref = refs_in(kb_dir / "references" / "imported.bib")["esch2019"]
    assert result.problems == [] and ref.year == 2019 and ref.authors[0].full_family == "van der Esch"


def test_cli_import_dry_run_and_bad_target(kb_dir, capsys):
    assert main(["--kb", str(kb_dir), "import", str(DATA / "refs.ris"), "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("@article{lim2024,") and "2 added to references/imported.bib, 0 already present (dry run" in captured.err
    assert not (kb_dir / "references" / "imported.bib").exists()
    assert main(["--kb", str(kb_dir), "import", str(DATA / "refs.ris"), "--to", "../x.bib"]) == 1
    assert "must be a file name ending in .bib" in capsys.readouterr().err
    assert main(["--kb", str(kb_dir), "import", str(DATA / "nothing.ris")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_quiet_import_prints_only_errors_and_its_dry_run_bibtex(kb_dir, capsys, tmp_path):
    """kb -q import printed its report on standard error ('skipped ...', '0 added to references/imported.bib, 3 already
    present'): -q is "no summaries, progress or warnings: only errors (a command's own output stays)"."""
    source = tmp_path / "refs.ris"
    source.write_text((DATA / "refs.ris").read_text(encoding="utf-8") + "TY  - JOUR\nTI  - Undated\nPY  - in press\nER  - \n", encoding="utf-8")
    assert main(["-q", "--kb", str(kb_dir), "import", str(source), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.startswith("@article{lim2024,") and "Undated" in out  # the BibTeX is the dry run's own output
    assert main(["-q", "--kb", str(kb_dir), "import", str(source)]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["-q", "--kb", str(kb_dir), "import", str(source)]) == 0  # all already present: 'skipped ...' lines before
    assert capsys.readouterr() == ("", "")
    assert main(["-q", "--kb", str(kb_dir), "import", str(tmp_path / "missing.ris")]) == 1
    assert capsys.readouterr().err == f"kb: error: {tmp_path / 'missing.ris'}: no such file\n"


def test_cli_import_unknown_format(kb_dir, capsys, tmp_path):
    other = tmp_path / "refs.xml"
    other.write_text("<xml/>", encoding="utf-8")
    assert main(["--kb", str(kb_dir), "import", str(other)]) == 1
    assert "unknown reference format '.xml'" in capsys.readouterr().err


# --------------------------------------------------------------------------- export


def export(args, capsys, fmt):
    assert main(["--kb", str(ROOT), "export", "--format", fmt]) == 0
    return capsys.readouterr().out


def test_csl_json_export_is_accepted_by_pandoc_citeproc(tmp_path, capsys):
    data = json.loads(export(None, capsys, "csl-json"))
    items = {i["id"]: i for i in data}
    assert items["geneen2017"]["DOI"] == "10.1002/14651858.cd011279.pub3" and items["geneen2017"]["PMID"] == "28436583"
    assert items["seguin2003"]["author"][1] == {"family": "Nelson", "given": "Miriam E."}
    (tmp_path / "refs.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "doc.md").write_text("Exercise helps [@geneen2017; @seguin2003].\n", encoding="utf-8")
    pandoc = shutil.which("pandoc")
    assert pandoc, "pandoc is needed for this test (Debian: apt-get install -y pandoc)"
    run = subprocess.run([pandoc, "--citeproc", "--bibliography", str(tmp_path / "refs.json"), "-t", "plain", str(tmp_path / "doc.md")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "not found" not in run.stderr
    assert "Geneen et al. 2017" in run.stdout and "Seguin and Nelson 2003" in run.stdout
    text = " ".join(run.stdout.split())
    assert "Geneen, Louise J., R. Andrew Moore," in text and "https://doi.org/10.1002/14651858.cd011279.pub3" in text


def test_ris_export_round_trips_identifiers(tmp_path, capsys):
    (tmp_path / "all.ris").write_text(export(None, capsys, "ris"), encoding="utf-8")
    records, problems = read_records(tmp_path / "all.ris")
    assert problems == []
    kb = load_kb(ROOT)
    got = {r.source_id: (r.fields.get("doi", ""), r.fields.get("pmid", ""), r.fields.get("pmcid", "")) for r in records}
    assert got == {k: (r.doi, r.pmid, r.pmcid) for k, r in kb.references.items()}


def test_bibtex_export_parses_with_the_same_keys(tmp_path, capsys):
    (tmp_path / "all.bib").write_text(export(None, capsys, "bibtex"), encoding="utf-8")
    refs = refs_in(tmp_path / "all.bib")
    kb = load_kb(ROOT)
    assert {k: r.doi for k, r in refs.items()} == {k: r.doi for k, r in kb.references.items()}


def test_a_file_with_errors_imports_nothing(kb_dir, capsys, tmp_path):
    """An unclosed brace makes pybtex read a truncated entry; kb import (and kb extract) refuse the whole file."""
    bad = tmp_path / "bad.bib"
    bad.write_text("@article{x,\n  title = {Synthetic record, not a real paper}\n", encoding="utf-8")
    assert main(["--kb", str(kb_dir), "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"{bad}:1:1: error: unbalanced braces") and "nothing was imported" in err
    assert not (kb_dir / "references" / "imported.bib").exists()


@pytest.mark.parametrize("name, text, warning", [
    ("y.json", '[{"id": "x", "type": "article-journal", "title": "T", "author": [{"family": "Doe", "given": "J"}], '
               '"issued": {"date-parts": [["abc"]]}}]',
     ''': warning: item 1: issued {"date-parts": [["abc"]]} gives no four-digit year; left out [import-skipped]'''),
    ("y.ris", "TY  - JOUR\nID  - x\nAU  - Doe, J\nTI  - T\nPY  - in press\nDA  - n.d.\nER  - \n",
     ":1: warning: record 1: PY 'in press' gives no four-digit year; left out [import-skipped]"),
    ("y.bib", "@article{x,\n  author = {Doe, J},\n  year = {in press},\n  title = {T}\n}\n",
     ":3:3: warning: entry 'x': year 'in press' is not a four-digit year; left out [import-skipped]"),
    ("last.bib", "@article{x, author = {Doe, J}, title = {T}, year = {2020a}}\n",
     ":1:1: warning: entry 'x': year '2020a' is not a four-digit year; left out [import-skipped]"),
], ids=["csl-json", "ris", "bibtex", "bibtex-last-field"])
def test_a_date_that_is_not_a_year_is_left_out_with_a_warning(kb_dir, tmp_path, capsys, name, text, warning):
    """CSL-JSON's {"date-parts": [["abc"]]} became year = {abc}: the final check then failed, blaming
    references/imported.bib:4:3 (a file not written yet) and importing nothing; a BibTeX year = {in press} refused the file."""
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    assert main(["--kb", str(kb_dir), "import", str(source), "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(f"{source}{warning}\n") and "imported.bib:" not in captured.err, captured.err
    assert "year" not in captured.out
    assert main(["--kb", str(kb_dir), "import", str(source)]) == 0
    assert f"{source}{warning}\n" in capsys.readouterr().err
    ref = refs_in(kb_dir / "references" / "imported.bib")["x"]
    assert (ref.title, ref.year, [a.family for a in ref.authors]) == ("T", None, ["Doe"])
    assert "year" not in (kb_dir / "references" / "imported.bib").read_text(encoding="utf-8")


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["write", "dry-run"])
def test_an_entry_that_does_not_parse_as_bibtex_names_the_record_of_the_file_imported(kb_dir, tmp_path, capsys, dry_run):
    """The final check of the BibTeX to append named references/imported.bib:2:14, a file not yet written, and
    never the file being imported; a dry run printed the broken BibTeX and exited 0."""
    source = tmp_path / "odd.json"
    source.write_text('[{"id": "ok", "title": "Fine"}, {"id": "x", "title": "a}b{c", "issued": {"date-parts": [[2020]]}}]', encoding="utf-8")
    assert main(["--kb", str(kb_dir), "import", str(source), *dry_run]) == 1
    captured = capsys.readouterr()
    assert captured.err == (f"{source}: error: record 'x' does not make valid BibTeX (BibTeX syntax error: '}}' expected, line 2 of its "
                            "entry) [bib-syntax]; nothing was imported; correct the record in the source file, or add the work by hand\n")
    assert captured.out == "" and not (kb_dir / "references" / "imported.bib").exists()


def test_a_file_that_is_not_utf8_is_an_error_at_its_line_and_column(kb_dir, tmp_path, capsys):
    """It was 'kb: error: FILE: invalid UTF-8 at byte 24'; kb check gives the same fault as path:line:col."""
    source = tmp_path / "latin1.bib"
    source.write_bytes(b"@article{a,\n author={M\xfcller, A.}, title={x}, year={2020}}\n")
    assert main(["--kb", str(kb_dir), "import", str(source)]) == 1
    assert capsys.readouterr() == ("", f"{source}:2:11: error: invalid UTF-8 byte 0xfc; save the file as UTF-8\n")
    assert not (kb_dir / "references" / "imported.bib").exists()


def test_csl_json_values_that_are_not_text_are_left_out_not_written_as_python(tmp_path):
    """A list, an object or a name whose parts are not text never reaches the BibTeX as "[1]" or "{'a': 1}"."""
    source = tmp_path / "odd.json"
    source.write_text(json.dumps([
        {"id": "z", "title": {"a": 1}, "author": [{"family": "Smith", "given": [1]}, {"family": "Jones", "given": "Ann"}],
         "volume": [1], "page": 5, "issued": {"date-parts": [[2020]]}},
        {"title": None},
        {"id": "only-an-id"},
        {"id": "ok", "title": "Fine", "author": "Smith", "DOI": ["10.1/x"]},
    ]), encoding="utf-8")
    records, problems = read_records(source)
    assert [(r.source_id, r.fields, [a.family for a in r.authors]) for r in records] == [
        ("z", {"pages": "5", "year": "2020"}, ["Jones"]), ("ok", {"title": "Fine"}, [])]
    assert [p.message for p in problems] == [
        "item 1: title, volume, author not as CSL-JSON writes them (text, or a list of names); left out",
        "item 2 has no title, name, date or identifier; skipped",
        "item 3 has no title, name, date or identifier; skipped",
        "item 4: DOI, author not as CSL-JSON writes them (text, or a list of names); left out"]


def test_an_empty_ris_record_is_skipped_as_an_empty_csl_json_item_is(tmp_path):
    """A RIS record with no title, name, date or identifier was added as an empty entry (@article{refnd})."""
    source = tmp_path / "some.ris"
    source.write_text("TY  - JOUR\nTI  - First\nER  - \n\nTY  - JOUR\nER  - \n\nTY  - JOUR\nAU  - Smith, Ann\nER  - \n", encoding="utf-8")
    records, problems = read_records(source)
    assert [(r.source_id, r.fields, [a.family for a in r.authors]) for r in records] == [
        ("record 1", {"title": "First"}, []), ("record 3", {}, ["Smith"])]
    assert [(p.code, p.message, p.location.line) for p in problems] == [
        ("import-skipped", "record 2 has no title, name, date or identifier; skipped", 5)]


def test_imports_at_the_same_time_keep_every_entry(tmp_path):
    """Each import reads the .bib, adds to it and writes it back: without the lock on references/, one
    run's write replaced another's (3 of 10 lost in a trial)."""
    import sys

    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    runs = []
    for i in range(8):
        source = tmp_path / f"r{i}.ris"
        source.write_text(f"TY  - JOUR\nTI  - Parallel record {i}\nAU  - Tester{i}, A.\nPY  - 20{i:02d}\nDO  - 10.5555/par.{i}\nER  - \n",
                          encoding="utf-8")
        runs.append(subprocess.Popen([sys.executable, "-m", "kb", "-q", "--kb", str(kb_dir), "import", str(source)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    assert [run.wait(60) for run in runs] == [0] * 8
    keys = parse_bib_file(kb_dir / "references" / "imported.bib", "imported.bib")[0].entries.keys()
    assert len(keys) == 8
