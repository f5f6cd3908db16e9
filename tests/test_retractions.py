"""kb retractions: Retraction Watch CSV (Crossref layout) -> surgical retraction fields, and the claims that lose support.

The CSV and the references here are synthetic (DOIs under the 10.5555 test prefix): no real paper is said to be retracted.
"""

from pathlib import Path

import pytest

from kb.cli import main
from kb.load import load_kb
from kb.retractions import COLUMNS, find_marks, read_notices
from kb.scaffold import init_kb
from kb.validate import validate

CSV = Path(__file__).parent / "data" / "extract" / "retraction_watch_sample.csv"

TEST_BIB = """% synthetic references for the retraction tests
@article{synth1,
\ttitle = {Synthetic test record one, not a real paper},
\tauthor = {Tester, Alpha and Tester, Beta},
\tjournal = {Journal of Test Records},
\tyear = {2020},
\tdoi = {10.5555/kb-test.1},
}

@article{synth2,
  author = {Tester, Gamma},
  title = {Synthetic test record two},
  journal = {Journal of Test Records},
  year = {2019},
  pmid = {99999902}
}

@article{synth3,
  author = {Tester, Epsilon},
  title = {Synthetic test record three},
  journal = {Journal of Test Records},
  year = {2018},
  doi = {10.5555/kb-test.3},
  retraction = {correction},
  retractionnotice = {old notice}
}
"""

CLAIM = """id: {id}
article: example
section: exercise
kind: empirical-finding
text:
  nl: "Physical activity and exercise may improve pain severity and physical function in adults with chronic pain"
  en: "Physical activity and exercise may improve pain severity and physical function in adults with chronic pain"
evidence:
{evidence}verdict: supported
status: draft
"""


def evidence(*keys):
    return "".join(f"  - ref: {k}\n    relation: supports\n    cited_in_article: true\n    certainty: not-graded\n" for k in keys)


@pytest.fixture
def kb_dir(tmp_path):
    root = tmp_path / "kb"
    init_kb(root)
    (root / "references" / "test.bib").write_text(TEST_BIB, encoding="utf-8")
    (root / "claims" / "only-synth1.yaml").write_text(CLAIM.format(id="only-synth1", evidence=evidence("synth1")), encoding="utf-8")
    (root / "claims" / "synth1-and-geneen.yaml").write_text(CLAIM.format(id="synth1-and-geneen", evidence=evidence("synth1", "geneen2017")), encoding="utf-8")
    (root / "claims" / "only-synth2.yaml").write_text(CLAIM.format(id="only-synth2", evidence=evidence("synth2")), encoding="utf-8")
    return root


def test_header_is_the_crossref_layout():
    header = CSV.read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(COLUMNS) + ","


def test_read_notices():
    notices, problems = read_notices(CSV)
    assert problems == []
    assert [(n.record_id, n.kind, n.original_doi, n.original_pmid) for n in notices] == [
        ("900001", "retracted", "10.5555/kb-test.1", ""),
        ("900002", "expression-of-concern", "", "99999902"),
        ("900003", "correction", "10.5555/kb-test.1", ""),
        ("900004", "retracted", "10.5555/kb-test.99", ""),
    ]  # the Reinstatement row is not a mark
    assert notices[0].date == "2024-03-14" and notices[0].describe == "10.5555/kb-test.notice1 (Retraction Watch record 900001, 2024-03-14)"
    assert notices[1].describe == "Retraction Watch record 900002, 2023-06-02"


def test_marks_most_severe_notice_matched_on_doi_or_pmid(kb_dir):
    marks = {m.key: m for m in find_marks(kb_dir, read_notices(CSV)[0])}
    assert set(marks) == {"synth1", "synth2"}
    assert (marks["synth1"].kind, marks["synth1"].matched_on) == ("retracted", "DOI 10.5555/kb-test.1")
    assert (marks["synth2"].kind, marks["synth2"].matched_on) == ("expression-of-concern", "PMID 99999902")


def test_cli_writes_fields_surgically_and_shows_lost_support(kb_dir, capsys):
    path = kb_dir / "references" / "test.bib"
    before = path.read_text(encoding="utf-8")
    example = (kb_dir / "references" / "example.bib").read_bytes()
    assert main(["--kb", str(kb_dir), "retractions", str(CSV)]) == 0
    out = capsys.readouterr().out
    after = path.read_text(encoding="utf-8")
    expected = before.replace(
        "\tdoi = {10.5555/kb-test.1},\n}",
        "\tdoi = {10.5555/kb-test.1},\n\tretraction = {retracted},\n"
        "\tretractionnotice = {10.5555/kb-test.notice1 (Retraction Watch record 900001, 2024-03-14)},\n}",
    ).replace(
        "  pmid = {99999902}\n}",
        "  pmid = {99999902},\n  retraction = {expression-of-concern},\n  retractionnotice = {Retraction Watch record 900002, 2023-06-02}\n}",
    )
    assert after == expected
    assert (kb_dir / "references" / "example.bib").read_bytes() == example
    kb = load_kb(kb_dir)
    assert (kb.references["synth1"].retraction, kb.references["synth2"].retraction) == ("retracted", "expression-of-concern")
    assert not [d for d in validate(kb) if d.severity.value == "error"]
    assert "references/test.bib:2: synth1: retracted; notice 10.5555/kb-test.notice1" in out
    assert "  claims resting on it: only-synth1, synth1-and-geneen" in out
    assert "  claims that lose their support: only-synth1\n" in out
    assert "  claims that lose their support: only-synth2\n" in out
    # a second run changes nothing
    assert main(["--kb", str(kb_dir), "retractions", str(CSV)]) == 0
    assert "(already marked)" in capsys.readouterr().out
    assert path.read_text(encoding="utf-8") == expected


def test_a_bib_file_with_crlf_line_endings_keeps_them(kb_dir, capsys):
    """The file was read with newline translation and written back with LF: every line of it changed."""
    path = kb_dir / "references" / "test.bib"
    path.write_bytes(TEST_BIB.replace("\n", "\r\n").encode("utf-8"))
    assert main(["--kb", str(kb_dir), "retractions", str(CSV)]) == 0
    after = path.read_bytes()
    assert after.count(b"\n") == after.count(b"\r\n") == TEST_BIB.count("\n") + 4  # two field lines for each of two entries
    assert b"\tretraction = {retracted},\r\n" in after and b"  retraction = {expression-of-concern},\r\n" in after
    assert load_kb(kb_dir).references["synth1"].retraction == "retracted"


def test_an_entry_on_one_line_in_a_crlf_file_gets_crlf_lines(kb_dir, capsys):
    """An entry without a line break of its own has no line ending to follow: the file's is used."""
    path = kb_dir / "references" / "test.bib"
    path.write_bytes(b"% one-line entries\r\n@article{synth1, title = {Synthetic test record one}, author = {Tester, Alpha},"
                     b" journal = {Journal of Test Records}, year = {2020}, doi = {10.5555/kb-test.1}}\r\n")
    assert main(["--kb", str(kb_dir), "retractions", str(CSV)]) == 0
    after = path.read_bytes()
    assert after.count(b"\n") == after.count(b"\r\n") == 4 and b"retraction = {retracted}" in after


def test_dry_run_shows_a_diff_and_writes_nothing(kb_dir, capsys):
    path = kb_dir / "references" / "test.bib"
    before = path.read_bytes()
    assert main(["--kb", str(kb_dir), "retractions", str(CSV), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "+\tretraction = {retracted}," in out and "+  retraction = {expression-of-concern}," in out
    assert path.read_bytes() == before


def test_existing_value_is_replaced_in_place(kb_dir, tmp_path, capsys):
    csv = tmp_path / "rw.csv"
    csv.write_text(",".join(COLUMNS) + "\n" + "1,T,,,,,,,,,1/2/2024 0:00,10.5555/kb-test.n9,0,,10.5555/kb-test.3,0,Retraction,,No,\n", encoding="utf-8")
    assert main(["--kb", str(kb_dir), "retractions", str(csv)]) == 0
    assert "synth3: retracted (was correction)" in capsys.readouterr().out
    text = (kb_dir / "references" / "test.bib").read_text(encoding="utf-8")
    assert "  retraction = {retracted},\n  retractionnotice = {10.5555/kb-test.n9 (Retraction Watch record 1, 2024-01-02)}\n}" in text
    assert text.count("retraction = {") == 1 and "old notice" not in text


def test_not_a_retraction_watch_file(kb_dir, tmp_path, capsys):
    bad = tmp_path / "other.csv"
    bad.write_text("id,doi\n1,10.1/x\n", encoding="utf-8")
    assert main(["--kb", str(kb_dir), "retractions", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "other.csv:1: not a Retraction Watch CSV: missing column(s) 'Record ID', 'OriginalPaperDOI'" in err



def test_an_unclosed_quote_is_an_error_at_the_record_that_opened_it(kb_dir, tmp_path, capsys):
    """Read leniently, the quote would swallow the records after it, a retraction among them, without a word."""
    lines = CSV.read_text(encoding="utf-8-sig").splitlines()
    bad = tmp_path / "rw.csv"
    header = lines[0].split(",")
    broken = ",".join('"He said ""hi' if name == "Title" else "" for name in header)
    bad.write_text("\n".join([lines[0], broken, *lines[1:]]) + "\n", encoding="utf-8")
    assert main(["--kb", str(kb_dir), "retractions", str(bad), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"kb: error: {bad}:2: cannot read the CSV record that starts here: ") and err.count("\n") == 1

def test_a_csv_that_is_not_utf8_is_an_error_at_its_line_and_column(kb_dir, tmp_path, capsys):
    """A bad byte on line 3 was 'FILE:1: cannot read the CSV header: 'utf-8' codec can't decode byte 0xfc in position 314: ...':
    the wrong line, not the header, and the codec's words. It is read as kb import and kb extract read their files."""
    lines = CSV.read_text(encoding="utf-8-sig").splitlines()
    bad = tmp_path / "rw.csv"
    bad.write_bytes("\n".join(lines).encode("utf-8").replace(lines[2].encode("utf-8"), b"\xc3\xa9" + lines[2].encode("utf-8")[:5] + b"\xfc"
                                                               + lines[2].encode("utf-8")[5:], 1) + b"\n")
    assert main(["--kb", str(kb_dir), "retractions", str(bad)]) == 1
    assert capsys.readouterr() == ("", f"{bad}:3:7: error: invalid UTF-8 byte 0xfc; save the CSV file as UTF-8\n")


def test_a_wrong_kb_folder_is_an_error(tmp_path, capsys):
    assert main(["--kb", str(tmp_path / "nope"), "retractions", str(CSV)]) == 1
    err = capsys.readouterr().err
    assert err == f"kb: error: {str(tmp_path / 'nope' / 'references')!r} does not exist; run kb init DIR first, or pass --kb DIR\n"
    assert not (tmp_path / "nope").exists()


def test_a_bib_file_whose_name_is_not_utf8_is_not_marked(kb_dir):
    """The loader skips (and reports) such a file; kb retractions must not write into it either."""
    import os
    import shutil

    bad = os.fsdecode(os.path.join(os.fsencode(kb_dir / "references"), b"caf\xe9.bib"))
    shutil.move(kb_dir / "references" / "test.bib", bad)
    before = Path(bad).read_bytes()
    assert find_marks(kb_dir, read_notices(CSV)[0]) == []
    assert Path(bad).read_bytes() == before
