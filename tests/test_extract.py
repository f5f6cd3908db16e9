"""kb extract: reading articles, attaching citations to statements, writing drafts, and the seed benchmark."""

import re
import shutil
from pathlib import Path

import pytest

from kb.article import normalize_text
from kb.cli import main
from kb.extract import read_source, run_extract
from kb.load import load_kb
from kb.scaffold import init_kb
from kb.validate import validate

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
SEED = DATA / "krachttraining.txt"
SEED_BIB = ROOT / "references" / "krachttraining.bib"
APA_ARTICLE = DATA / "extract" / "strength-training-older-adults.md"
ZOTERO_BIB = DATA / "extract" / "zotero-export.bib"


def errors(kb_dir):
    return [str(d) for d in validate(load_kb(kb_dir)) if d.severity.value == "error"]


# --------------------------------------------------------------------------- reading


def test_plain_text_headings_and_title():
    article = read_source(SEED.read_text(encoding="utf-8"), "krachttraining.txt")
    assert article.title == "Wat je nog niet wist over krachttraining!"
    assert article.language == "nl"
    titles = [s.title for s in article.sections]
    assert len(titles) == 10
    assert titles[0] == "Waarom krachttraining zo goed is voor je lichaam én je herstel"
    assert titles[-1] == "Conclusie"
    assert [len(s.paragraphs) for s in article.sections][-1] == 2
    assert article.sections[0].line == 2 and article.sections[0].paragraphs[0].line == 3


def test_plain_text_heading_rule_in_a_hard_wrapped_file():
    text = ("A title line\n\nIntroduction\n\nFirst paragraph, wrapped over\ntwo lines of text.\n\n"
            "This short line ends with a full stop.\n\nMethods and materials\n\nWe did something here\nover two lines.\n\n"
            "Exercise is\ngood for you, in a block whose first line is short.\n")
    article = read_source(text, "a.txt", lang="en")
    assert article.title == "A title line"
    assert [(s.title, [p.text for p in s.paragraphs]) for s in article.sections] == [
        ("Introduction", ["First paragraph, wrapped over two lines of text.", "This short line ends with a full stop."]),
        ("Methods and materials", ["We did something here over two lines.", "Exercise is good for you, in a block whose first line is short."]),
    ]
    assert article.sections[0].paragraphs[0].line_at(35) == 6


def test_markdown_front_matter_headings_lists_and_reference_section():
    text = ("---\ntitle: Front title\nlanguage: en\n---\n\n## Pain {#pain}\n\nExercise helps [1]. It is safe [2, 3].\n\n"
            "- A list item about exercise and pain.\n- Another item here.\n\n## References\n\n1. Geneen LJ, Moore RA. 2017.\n"
            "2. Lim J. 2024.\n")
    article = read_source(text, "a.md")
    assert article.title == "Front title" and article.language == "en"
    pain, refs = article.sections
    assert pain.id == "pain" and [p.text for p in pain.paragraphs][1:] == ["A list item about exercise and pain.", "Another item here."]
    assert refs.is_references and [p.text for p in refs.paragraphs] == ["1. Geneen LJ, Moore RA. 2017.", "2. Lim J. 2024."]


@pytest.mark.parametrize("text, lang", [(SEED.read_text(encoding="utf-8"), "nl"), (APA_ARTICLE.read_text(encoding="utf-8"), "en")])
def test_language_detection(text, lang):
    assert read_source(text, "x.md").language == lang


# --------------------------------------------------------------------------- attaching and writing


def write_article(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_attachment_rule_and_claim_text(tmp_path):
    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    article = write_article(tmp_path, "note.txt",
                            "A note on pain\n"
                            "Exercise may improve pain in adults with chronic pain (Geneen et al., 2017). It is cheap.\n"
                            "Exercise may also help mood. (Geneen et al., 2017)\n"
                            "Exercise is studied (Geneen et al., 2017), and more work follows.\n")
    result = run_extract(article, [ZOTERO_BIB], kb_dir)
    by_text = {s.text: s.keys for s in result.extraction.statements}
    assert by_text == {
        "Exercise may improve pain in adults with chronic pain": ("geneen2017",),
        "It is cheap.": (),
        "Exercise may also help mood.": ("geneen2017",),  # the marker written after the full stop covers the sentence before
        "Exercise is studied (Geneen et al., 2017), and more work follows.": ("geneen2017",),  # inner marker stays in the text
    }
    assert errors(kb_dir) == []  # every claim text is found verbatim in the article copy
    claim = (kb_dir / "claims" / "it-is-cheap.yaml").read_text(encoding="utf-8")
    assert "verdict: uncited" in claim and "status: draft" in claim and "evidence: []" in claim


def test_dutch_claims_are_marked_for_translation(tmp_path):
    result = run_extract(SEED, [SEED_BIB], tmp_path / "kb")
    first = result.claims_written[0].read_text(encoding="utf-8")
    assert 'en: "[translate] Wanneer mensen aan krachttraining denken' in first
    assert "kind: empirical-finding" in first


def test_never_overwrites_and_is_idempotent(tmp_path):
    kb_dir = tmp_path / "kb"
    first = run_extract(SEED, [SEED_BIB], kb_dir)
    before = {p: p.read_bytes() for p in (kb_dir / "claims").iterdir()}
    second = run_extract(SEED, [SEED_BIB], kb_dir)
    assert second.claims_written == [] and second.already_present == len(first.claims_written)
    assert {p: p.read_bytes() for p in (kb_dir / "claims").iterdir()} == before
    assert second.imported.added == [] and len(second.imported.duplicates) == 9


def test_refuses_to_replace_a_different_article(tmp_path, capsys):
    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    other = write_article(tmp_path, "example.txt", "Title\nSomething else entirely is said here (Geneen et al., 2017).\n")
    assert main(["--kb", str(kb_dir), "extract", str(other), "--bib", str(ZOTERO_BIB)]) == 1
    err = capsys.readouterr().err
    assert "articles/example.md' already exists with other text; nothing was written" in err and "--id" in err
    assert not (kb_dir / "claims" / "something-else-entirely-is-said-here.yaml").exists()
    assert not (kb_dir / "references" / "zotero-export.bib").exists()  # checked before the references are imported


def files_of(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def fail_in(monkeypatch, folder_name, after=0):
    """Make every new file in a folder named ``folder_name`` fail after ``after`` of them (as a folder that is not
    writable does; tests may run as root, whom file modes do not stop). write_atomic makes its files with mkstemp."""
    import tempfile

    real, made = tempfile.mkstemp, []

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).name == folder_name:
            if len(made) >= after:
                raise PermissionError(13, "Permission denied")
            made.append(dir)
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.mark.parametrize("folder", ["claims", "references", "articles"])
def test_a_folder_that_cannot_be_written_is_found_before_anything_is_written(tmp_path, capsys, monkeypatch, folder):
    """claims/ not writable left the article copy and the imported .bib behind, and the error named the first claim."""
    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    before = files_of(kb_dir)
    fail_in(monkeypatch, folder)
    assert main(["--kb", str(kb_dir), "extract", str(APA_ARTICLE), "--bib", str(ZOTERO_BIB)]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"kb: error: cannot write in the folder {str(kb_dir / folder)!r}: Permission denied; nothing was written; "
                              "make it writable, or name a folder you can write to with -o (or --kb)\n")
    assert files_of(kb_dir) == before


def test_a_write_that_fails_halfway_takes_back_what_was_written(tmp_path, capsys, monkeypatch):
    """The folders can be written, but the third claim file cannot (a full disk): the claims, the article copy and
    the .bib written before it are taken back, an existing .bib to its old text."""
    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    (kb_dir / "references" / "zotero-export.bib").write_text("% my own references\n", encoding="utf-8")
    before = files_of(kb_dir)
    fail_in(monkeypatch, "claims", after=3)  # the folder check and two claims
    assert main(["--kb", str(kb_dir), "extract", str(APA_ARTICLE), "--bib", str(ZOTERO_BIB)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"kb: error: cannot write {str(kb_dir / 'claims')!r}"[:-1] + "/")
    assert err.endswith(": Permission denied; nothing was written\n") and err.count("\n") == 1, err
    assert files_of(kb_dir) == before


def test_files_that_cannot_be_taken_back_are_named(tmp_path, capsys, monkeypatch):
    """When taking a part back fails too (the same full disk), the message said nothing of what was left."""
    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    fail_in(monkeypatch, "claims", after=3)  # the folder check and two claims
    real_unlink = Path.unlink

    def unlink(self, *args, **kwargs):
        if self.parent.name == "claims" and self.suffix == ".yaml" and self.exists():  # as a failing disk would
            raise PermissionError(13, "Permission denied", str(self))
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    assert main(["--kb", str(kb_dir), "extract", str(APA_ARTICLE), "--bib", str(ZOTERO_BIB)]) == 1
    err = capsys.readouterr().err
    left = err.split("; these could not be put back as they were: ")[1].strip().split(", ")
    assert len(left) == 2 and all(name.startswith(repr(str(kb_dir / "claims"))[:-1]) for name in left), err
    assert "nothing was written" not in err and err.count("\n") == 1


def test_ctrl_c_halfway_takes_back_what_was_written(tmp_path, capsys, monkeypatch):
    """Only a KbError took the parts back: Ctrl-C (or a bug) between two claim files left the .bib, the article and
    the first claims written."""
    import tempfile

    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    before = files_of(kb_dir)
    real, made = tempfile.mkstemp, []

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).name == "claims":
            made.append(dir)
            if len(made) > 3:  # the folder check and two claims
                raise KeyboardInterrupt
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    assert main(["--kb", str(kb_dir), "extract", str(APA_ARTICLE), "--bib", str(ZOTERO_BIB)]) == 130
    assert files_of(kb_dir) == before and len(made) == 4


def test_folders_it_made_are_removed_when_it_writes_nothing(tmp_path, capsys, monkeypatch):
    """The check that claims/ can be written came after articles/ and references/ were made, and left them."""
    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    for folder in ("articles", "references"):
        for path in (kb_dir / folder).iterdir():
            path.unlink()
        (kb_dir / folder).rmdir()
    fail_in(monkeypatch, "claims")
    assert main(["--kb", str(kb_dir), "extract", str(APA_ARTICLE), "--bib", str(ZOTERO_BIB)]) == 1
    assert "nothing was written" in capsys.readouterr().err
    assert not (kb_dir / "articles").exists() and not (kb_dir / "references").exists() and (kb_dir / "claims").is_dir()


def test_it_waits_for_another_command_changing_the_references(tmp_path):
    """kb extract appends to a .bib in references/ (and may take it back): it holds the lock kb import and kb
    retractions hold, so that neither loses the other's entries."""
    import subprocess
    import sys

    from kb.output import folder_lock

    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    with folder_lock(kb_dir / "references"):
        run = subprocess.Popen([sys.executable, "-m", "kb", "--kb", str(kb_dir), "extract", str(APA_ARTICLE), "--bib", str(ZOTERO_BIB)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            first = run.stderr.readline()  # printed while it waits: the lock is held here
            assert "another kb command is changing" in first and run.poll() is None, first
        except BaseException:
            run.kill()
            raise
    assert run.wait(60) == 0
    assert (kb_dir / "references" / "zotero-export.bib").is_file()


def test_unreadable_article_is_a_one_line_error(tmp_path, capsys):
    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    folder = tmp_path / "folder.md"
    folder.mkdir()
    (tmp_path / "latin1.txt").write_bytes("Titel\nCaf\xe9 en pijn.\n".encode("latin-1"))
    for article, message in ((folder, "': cannot read: "), (tmp_path / "missing.txt", "': no such file")):
        assert main(["--kb", str(kb_dir), "extract", str(article), "--bib", str(ZOTERO_BIB)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"kb: error: {str(article)!r}") and message in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err


def test_an_article_or_bibliography_that_is_not_utf8_is_an_error_at_its_line_and_column(tmp_path, capsys):
    """It was "'latin1.txt': invalid UTF-8 at byte 9": a byte offset no editor goes to. kb check says path:line:col."""
    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    article = tmp_path / "latin1.txt"
    article.write_bytes("Titel\nCaf\xe9 en pijn.\n".encode("latin-1"))
    assert main(["--kb", str(kb_dir), "extract", str(article), "--bib", str(ZOTERO_BIB)]) == 1
    assert capsys.readouterr() == ("", f"{article}:2:4: error: invalid UTF-8 byte 0xe9; save the article as UTF-8\n")
    bib = tmp_path / "refs.bib"
    bib.write_bytes("@article{a,\n  author = {M\u00fcller, A. and Gro\u00df, B.},\n  title = {\u00c9t\u00e9}, year = {2020}}\n".encode("utf-8")
                    .replace("Gro\u00df".encode("utf-8"), "Gro\u00df".encode("latin-1")))
    good = write_article(tmp_path, "good.md", "Title\n\nExercise may improve pain (M\u00fcller, 2020).\n")
    assert main(["--kb", str(kb_dir), "extract", str(good), "--bib", str(bib)]) == 1
    assert capsys.readouterr() == ("", f"{bib}:2:31: error: invalid UTF-8 byte 0xdf; save the bibliography as UTF-8\n")  # characters, not bytes


@pytest.mark.parametrize("front, message", [
    ('title: "Pain\nlanguage: en\n', ":3:13: error: front matter: YAML syntax error: found unexpected end of stream "
                                     "(while scanning a quoted scalar that starts on line 2); correct the YAML between the '---' lines, or remove them"),
    ("title: Pain: a review\n", ":2:12: error: front matter: YAML syntax error: mapping values are not allowed in this context; "
                                "correct the YAML between the '---' lines, or remove them"),
    ("- title\n- Pain\n", ":2:1: error: front matter must be a mapping (key: value lines), found a list; "
                          "write one field a line, such as 'title: ...', between the '---' lines"),
    ("# the fields\n- title\n- Pain\n", ":3:1: error: front matter must be a mapping (key: value lines), found a list; "
                                        "write one field a line, such as 'title: ...', between the '---' lines"),
], ids=["unclosed-quote", "colon", "list", "list-after-a-comment"])
def test_front_matter_that_is_not_yaml_is_an_error_at_its_line(tmp_path, capsys, front, message):
    """It was dropped without a word: the article was written without its title, language or url."""
    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    article = write_article(tmp_path, "draft.md", f"---\n{front}---\n\n## Pain\n\nExercise may improve pain in adults (Geneen et al., 2017).\n")
    before = {p: p.read_bytes() for p in kb_dir.rglob("*") if p.is_file()}
    assert main(["--kb", str(kb_dir), "extract", str(article), "--bib", str(ZOTERO_BIB)]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"{article}{message}\n")
    assert {p: p.read_bytes() for p in kb_dir.rglob("*") if p.is_file()} == before


def test_front_matter_never_closed_is_an_error_as_in_kb_check(tmp_path, capsys):
    """kb check reports it (article-front-matter); kb extract read the fields as the article's first paragraph."""
    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    article = write_article(tmp_path, "draft.md", "---\ntitle: Pain\n\n## Pain\n\nExercise may improve pain in adults (Geneen et al., 2017).\n")
    assert main(["--kb", str(kb_dir), "extract", str(article), "--bib", str(ZOTERO_BIB)]) == 1
    assert capsys.readouterr() == ("", f"{article}:1:1: error: front matter opened with '---' is never closed; "
                                       "end it with a line '---', or remove the first one\n")


def test_unreadable_existing_article_is_refused(tmp_path, capsys):
    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    (kb_dir / "articles" / "example.md").unlink()
    (kb_dir / "articles" / "example.md").mkdir()
    other = write_article(tmp_path, "example.txt", "Title\nSomething else entirely is said here (Geneen et al., 2017).\n")
    assert main(["--kb", str(kb_dir), "extract", str(other), "--bib", str(ZOTERO_BIB)]) == 1
    err = capsys.readouterr().err
    assert "articles/example.md' already exists and cannot be read (Is a directory); nothing was written" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (kb_dir / "claims" / "something-else-entirely-is-said-here.yaml").exists()
    (kb_dir / "articles" / "example.md").rmdir()
    (kb_dir / "articles" / "example.md").write_bytes("Title\n\nCaf\xe9.\n".encode("latin-1"))
    assert main(["--kb", str(kb_dir), "extract", str(other), "--bib", str(ZOTERO_BIB)]) == 1
    assert capsys.readouterr().err == (f"{kb_dir / 'articles' / 'example.md'}:3:4: error: already exists and cannot be read (invalid UTF-8 "
                                       "byte 0xe9); nothing was written; pass --id NEW_ID to store this article under another id\n")


@pytest.mark.parametrize("bad", ["../../outside", "a/b", "Upper", "-dash", "x" * 81, "ok\n"])
def test_article_id_must_be_an_id(tmp_path, capsys, bad):
    kb_dir = tmp_path / "kb" / "inner"
    init_kb(kb_dir)
    article = write_article(tmp_path, "draft.txt", "Draft\nExercise may improve pain in adults (Geneen et al., 2017).\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(["--kb", str(kb_dir), "extract", str(article), "--bib", str(ZOTERO_BIB), f"--id={bad}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"kb: error: --id {bad!r} is not a valid article id") and len(err.strip().splitlines()) == 1, err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_cli_summary_reports_unresolved_with_line_numbers(tmp_path, capsys):
    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    article = write_article(tmp_path, "draft.txt",
                            "Draft\nExercise may improve pain in adults (Geneen et al., 2017).\n"
                            "Hayden and colleagues (2021) studied back pain.\nSmith (2019) and Jones [4] said more.\n")
    code = main(["--kb", str(kb_dir), "extract", str(article), "--bib", str(ZOTERO_BIB)])
    out = capsys.readouterr().out
    assert code == 0
    assert "statements: 3 (3 with a citation); wrote 3 draft claims" in out
    assert "citations: 4 found, 1 resolved, 3 unresolved" in out
    assert (f"\n  {article}:3: warning: unresolved citation 'Hayden and colleagues 2021': no reference by Hayden in 2021 in the "
            "bibliography; add the work to the bibliography, or fix the marker [unresolved-citation]\n") in out
    assert f"\n  {article}:4: warning: unresolved citation '[4]': the article has no numbered reference list" in out
    assert out.count("[unresolved-citation]\n") == 3
    assert main(["--kb", str(kb_dir), "extract", str(article), "--bib", str(ZOTERO_BIB), "--strict"]) == 1
    capsys.readouterr()
    claim = (kb_dir / "claims" / "hayden-and-colleagues-2021-studied-back-pain.yaml").read_text(encoding="utf-8")
    assert "verdict: unsupported" in claim and "unresolved: Hayden and colleagues 2021" in claim


def test_dry_run_writes_nothing(tmp_path, capsys):
    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    before = sorted(p.relative_to(kb_dir) for p in kb_dir.rglob("*"))
    assert main(["--kb", str(kb_dir), "extract", str(APA_ARTICLE), "--bib", str(ZOTERO_BIB), "--dry-run"]) == 0
    assert "would write 13 draft claims" in capsys.readouterr().out
    assert sorted(p.relative_to(kb_dir) for p in kb_dir.rglob("*")) == before


def test_numeric_markers_resolve_through_the_numbered_list(tmp_path):
    article = write_article(tmp_path, "num.md",
                            "# Numbered\n\nExercise may improve pain in chronic pain [1]. Strength training prevents injuries [2, 3].\n\n"
                            "## References\n\n1. Geneen LJ, Moore RA, Clarke C, et al. Physical activity and exercise for chronic pain in adults. "
                            "Cochrane Database Syst Rev. 2017;4:CD011279. doi:10.1002/14651858.CD011279.pub3\n"
                            "2. Lauersen JB, Bertelsen DM, Andersen LB. The effectiveness of exercise interventions to prevent sports injuries. "
                            "Br J Sports Med. 2014;48(11):871-877.\n3. Nobody N. Missing. 2001.\n")
    result = run_extract(article, [ZOTERO_BIB], tmp_path / "kb")
    keys = [s.keys for s in result.extraction.statements]
    assert keys == [("geneen_physical_2017",), ("lauersen_effectiveness_2014",)]
    assert [p.message.split(":")[0] for p in result.extraction.problems] == ["unresolved citation '[3]'"]


# --------------------------------------------------------------------------- the seed benchmark


def pairs_match(extracted_text, hand_text):
    """A statement matches a hand claim when either text contains the other (after normalising space and quotes)."""
    return hand_text in extracted_text or extracted_text in hand_text


def test_seed_precision_and_recall(tmp_path, capsys):
    """(statement, reference) pairs from kb extract against the hand-reviewed claims (cited_in_article evidence)."""
    hand_kb = load_kb(ROOT)
    hand = [(normalize_text(c.text.nl), ev.ref) for c in hand_kb.claims.values() for ev in c.evidence if ev.cited_in_article]
    assert len(hand) >= 20, "the hand-reviewed knowledge base should have its cited claims"
    result = run_extract(SEED, [SEED_BIB], tmp_path / "kb")
    extracted = [(normalize_text(s.text), key) for s in result.extraction.statements for key in s.keys]
    true_extracted = [p for p in extracted if any(pairs_match(p[0], h[0]) and p[1] == h[1] for h in hand)]
    found_hand = [h for h in hand if any(pairs_match(p[0], h[0]) and p[1] == h[1] for p in extracted)]
    precision = len(true_extracted) / len(extracted)
    recall = len(found_hand) / len(hand)
    with capsys.disabled():
        print(f"\nseed extraction: precision {precision:.3f} ({len(true_extracted)}/{len(extracted)} extracted pairs), "
              f"recall {recall:.3f} ({len(found_hand)}/{len(hand)} hand-reviewed pairs)")
    missed = [h for h in hand if h not in found_hand]
    wrong = [p for p in extracted if p not in true_extracted]
    assert precision >= 0.95, wrong
    assert recall >= 0.95, missed
    counts = result.extraction.counts()
    assert counts["citations"] == counts["resolved"] == 13
    assert [n.split(": ", 1)[1] for n in result.extraction.notes] == [
        "'Syed-Abdul et al. 2022' -> syedabdul2022: matched through the citedas field (the reference's year is 2021)"]  # two sentences of line 16: one line
    assert errors(tmp_path / "kb") == []


#: What kb extract notes of the seed bibliography's Syed-Abdul entry, cited as 2022 (citedas) for a 2021 paper.
SYED_NOTE = "'Syed-Abdul et al. 2022' -> syedabdul2022: matched through the citedas field (the reference's year is 2021)"


def _extracted(tmp_path, capsys, body: str) -> tuple[Path, Path, str]:
    """(the knowledge base, the article, the report) of kb extract on an article "Strength and age" with ``body``."""
    kb_dir = tmp_path / "kb"
    article = write_article(tmp_path, "twice.txt", "Strength and age\n" + body)
    assert main(["--kb", str(kb_dir), "extract", str(article), "--bib", str(SEED_BIB)]) == 0
    return kb_dir, article, capsys.readouterr().out  # the report lists the warnings too


def test_a_marker_written_twice_in_a_sentence_is_noted_once(tmp_path, capsys):
    """The report listed "resolved by a rule" twice for the same marker on the same line, and the claim's notes said "check:" twice."""
    kb_dir, article, out = _extracted(tmp_path, capsys, "Strength helps older adults (Syed-Abdul et al., 2022), and more so with protein "
                                                        "(Syed-Abdul et al., 2022).\nStrength training is safe for older adults (Syed-Abdul et al., 2022).\n")
    assert out.split("resolved by a rule, worth checking:\n")[1] == f"  {article}:2: {SYED_NOTE}\n  {article}:3: {SYED_NOTE}\n"
    claim = (kb_dir / "claims" / "strength-helps-older-adults-syed-abdul-et.yaml").read_text(encoding="utf-8")
    assert claim.count("check: ") == 1 and claim.count("-> syedabdul2022") == 1, claim


def test_an_unresolved_marker_written_twice_in_a_sentence_is_one_warning(tmp_path, capsys):
    """Each occurrence gave its own warning, the same words on the same line."""
    _, article, out = _extracted(tmp_path, capsys, "Strength helps older adults (Nobody et al., 2022), and more so with protein "
                                                   "(Nobody et al., 2022).\nStrength training is safe for older adults (Nobody et al., 2022).\n")
    assert out.count(f"{article}:2: warning: unresolved citation 'Nobody et al. 2022'") == 1, out
    assert out.count(f"{article}:3: warning: unresolved citation 'Nobody et al. 2022'") == 1, out


def test_two_sentences_on_one_line_citing_the_same_work_by_a_rule_are_one_line_of_the_report(tmp_path, capsys):
    """The seed article's line 16 cites Syed-Abdul et al. (2022) in two sentences: the report printed the same line twice."""
    kb_dir, article, out = _extracted(tmp_path, capsys, "Strength helps older adults (Syed-Abdul et al., 2022). It also helps memory "
                                                        "(Syed-Abdul et al., 2022). Nobody agrees (Nobody et al., 2022). Nobody disagrees "
                                                        "either (Nobody et al., 2022).\n")
    assert out.split("resolved by a rule, worth checking:\n")[1] == f"  {article}:2: {SYED_NOTE}\n"
    assert out.count(f"{article}:2: warning: unresolved citation 'Nobody et al. 2022'") == 1, out
    claims = [path.read_text(encoding="utf-8") for path in (kb_dir / "claims").glob("*.yaml")]
    assert sum("check: Syed-Abdul et al. 2022 -> syedabdul2022" in claim for claim in claims) == 2  # each claim still says what to check


# --------------------------------------------------------------------------- what it must show


EXPECTED_LINKS = {  # sentence start in the English APA article -> the reference it must link to (checked by hand)
    "Physical activity and exercise may improve pain severity": "geneen2017",  # deduplicated onto kb init's example by DOI
    "In knee and hip osteoarthritis": "lim_effects_2024",
    "Geneen et al. (2017) found that reported adverse events": "geneen2017",
    "Seguin and Nelson (2003) describe": "seguin_benefits_2003",
    "In older adults, resistance training increases": "hunter_effects_2004",
    "Khodadad Kashi et al. (2023) found": "khodadad_kashi_systematic_2023",
    "In healthy older adults, strength training alone": "lemos_influence_2020",
    "Syed-Abdul (2021) links": "syed-abdul_benefits_2021",
    "Properly implemented, individualised and progressive": "fragala_resistance_2019",
    "In randomised trials, strength training programmes": "lauersen_effectiveness_2014",
}


def test_readme_flow_init_extract_build(tmp_path, capsys):
    """kb init, kb extract on an English APA article with a Zotero export, kb build: every cited sentence links to its reference."""
    kb_dir = tmp_path / "mykb"
    assert main(["init", str(kb_dir)]) == 0
    assert main(["--kb", str(kb_dir), "extract", str(APA_ARTICLE), "--bib", str(ZOTERO_BIB)]) == 0
    out = capsys.readouterr().out
    assert "citations: 10 found, 10 resolved, 0 unresolved" in out
    assert main(["--kb", str(kb_dir), "check"]) == 0
    site = tmp_path / "site"
    assert main(["--kb", str(kb_dir), "build", "-o", str(site)]) == 0
    capsys.readouterr()

    kb = load_kb(kb_dir)
    claims = [c for c in kb.claims.values() if c.article == "strength-training-older-adults"]
    cited = {c.id: c for c in claims if c.evidence}
    assert len(cited) == len(EXPECTED_LINKS)
    page = (site / "article" / "strength-training-older-adults.html").read_text(encoding="utf-8")
    for start, key in EXPECTED_LINKS.items():
        (claim,) = [c for c in cited.values() if c.text.nl.startswith(start)]
        assert [ev.ref for ev in claim.evidence] == [key]
        claim_page = (site / "claims" / f"{claim.id}.html").read_text(encoding="utf-8")
        assert f'href="../references/{key}.html"' in claim_page, (claim.id, key)
        mark = re.search(r'data-claim="' + re.escape(claim.id) + r'".*?</mark>(<sup class="claim-ref">.*?</sup>)', page, re.S)
        assert mark and f'href="#bib-{key}"' in mark.group(1), (claim.id, key)
        assert f'id="bib-{key}"' in page
    uncited = [c for c in claims if not c.evidence]
    assert uncited and all(c.verdict == "uncited" for c in uncited)


def test_csl_json_and_ris_bibliographies_together(tmp_path):
    result = run_extract(APA_ARTICLE, [DATA / "extract" / "refs-csl.json", DATA / "extract" / "refs.ris"], tmp_path / "kb")

    def keys(start):
        (statement,) = [s for s in result.extraction.statements if s.text.startswith(start)]
        return statement.keys

    assert keys("In knee and hip osteoarthritis") == ("lim2024",)  # from the RIS file
    assert keys("In randomised trials") == ("lauersen2014",)  # from the CSL-JSON file, key generated from a URL id
    assert keys("Seguin and Nelson (2003) describe") == ("seguin_nodoi",)
    assert keys("Properly implemented") == ("fragala2019",)
    assert keys("Geneen et al. (2017) found") == ("geneen2017cochrane",)
    unresolved = sorted(p.message.split(":")[0] for p in result.extraction.problems)
    assert unresolved == ["unresolved citation 'Hunter et al. 2004'", "unresolved citation 'Khodadad Kashi et al. 2023'",
                          "unresolved citation 'Lemos, Guadagnin, & Mota 2020'", "unresolved citation 'Syed-Abdul 2021'"]
    assert (tmp_path / "kb" / "references" / "refs-csl.bib").exists() and (tmp_path / "kb" / "references" / "refs.bib").exists()
    assert errors(tmp_path / "kb") == []


def test_crlf_and_bom_read_like_plain_lf(tmp_path):
    text = SEED.read_text(encoding="utf-8")
    windows = tmp_path / "windows.txt"
    windows.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    plain = run_extract(SEED, [SEED_BIB], tmp_path / "a", dry_run=False).extraction
    crlf = run_extract(windows, [SEED_BIB], tmp_path / "b", article_id="krachttraining").extraction
    assert [(s.text, s.keys, s.line) for s in crlf.statements] == [(s.text, s.keys, s.line) for s in plain.statements]
    assert crlf.article.title == "Wat je nog niet wist over krachttraining!"


def test_extract_into_a_folder_without_a_knowledge_base(tmp_path):
    shutil.copy(SEED, tmp_path / "seed.txt")
    result = run_extract(tmp_path / "seed.txt", [SEED_BIB], tmp_path / "new")
    assert result.article_written and (tmp_path / "new" / "references" / "krachttraining.bib").exists()
    assert errors(tmp_path / "new") == []


# --------------------------------------------------------------------------- properties

from hypothesis import HealthCheck, example, given, settings, strategies as st  # noqa: E402

from kb.article import parse_article  # noqa: E402
from kb.citations import Resolver  # noqa: E402
from kb.extract import extract, render_article  # noqa: E402
from kb.errors import KbError  # noqa: E402

_PIECES = st.sampled_from(list("abcXYZ .,;:!?()[]-#*>\n\t'\"0129éü…&") + ["et al.", "(Smith, 2019)", "\n\n", "---", "# ", "## ", "1. ", "- ",
                                                                          "References\n"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=80).map("".join), st.sampled_from(["a.txt", "a.md"]))
@example("a\n# \n\na# a\na", "a.md")  # an empty heading started a section the written article did not have
@example("---\n\"\n---\na", "a.md")  # front matter that is not YAML: an error at its line, never dropped
@example(" ---", "a.md")  # an opening line with a space before it: never closed
@example("title: a\n---\na", "a.md")  # front matter without its opening line
def test_any_text_gives_an_article_whose_statements_kb_check_finds(text, name):
    try:
        source = read_source(text, name, lang="en")
    except KbError as exc:  # only for front matter that is not a YAML mapping, or not closed or opened, named with its line
        opened = text.splitlines()[0].strip() == "---"  # as read_front_matter sees an opening line (' ---' too)
        assert name == "a.md" and exc.location.path == "a.md" and exc.location.line, str(exc)
        assert opened or exc.message.startswith("front matter without its opening"), str(exc)
        assert exc.message.startswith("front matter"), exc.message
        assert "\n" not in str(exc)
        return
    article, diagnostics = parse_article(render_article(source), "articles/a.md", source.id)
    assert [d for d in diagnostics if d.severity.value == "error"] == []
    body = normalize_text(article.body)
    for statement in extract(source, Resolver([])).statements:
        assert normalize_text(statement.text) in body
        assert article.section(statement.section) is not None


def test_a_draft_claim_is_never_given_the_reserved_id_index():
    """``index`` is the claims index's page on the site (schema/claim.schema.json refuses it as an id)."""
    from kb.extract import Statement, claim_id_for

    taken: set[str] = set()
    ids = [claim_id_for(Statement(section="s", text=text, sentence=text, line=1), taken) for text in ("Index", "Index!", "Other")]
    assert "index" not in ids and len(set(ids)) == 3


def test_front_matter_never_opened_is_an_error_as_in_kb_check(tmp_path, capsys):
    """Its fields were read as the article's first paragraph, without a word; an article that only starts
    with a line like a field is read as before."""
    kb_dir = tmp_path / "kb"
    init_kb(kb_dir)
    article = write_article(tmp_path, "draft.md", "title: Pain\nlanguage: en\n---\n\n## Pain\n\nExercise may improve pain in adults (Geneen et al., 2017).\n")
    assert main(["--kb", str(kb_dir), "extract", str(article), "--bib", str(ZOTERO_BIB)]) == 1
    assert capsys.readouterr() == ("", f"{article}:1:1: error: front matter without its opening '---'; add a line '---' above it\n")
    prose = write_article(tmp_path, "prose.md", "title: Pain, and what helps\n\nExercise may improve pain in adults (Geneen et al., 2017).\n\n---\n\nMore.\n")
    assert main(["--kb", str(kb_dir), "extract", str(prose), "--bib", str(ZOTERO_BIB), "--dry-run"]) == 0
