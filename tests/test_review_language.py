"""kb.yaml ``review_language``: what reviewers write (verdict reasons, notes, found) is marked with its
language in the HTML reports, whatever the interface language; undeclared, it is not marked."""

from __future__ import annotations

import re

from conftest import MINI_KB_YAML, make_kb


def _site(run_kb, root, *args):
    code, _out, err = run_kb(root, "-q", "build", *args)
    assert code == 0, err
    return root / "build"


def test_reviewer_texts_carry_the_review_language(tmp_path, run_kb):
    root = make_kb(tmp_path / "kb", kb_yaml=MINI_KB_YAML + "review_language: en\n")
    site = _site(run_kb, root)  # the interface in Dutch, the first of languages
    claim = (site / "claims" / "pijn-oefentherapie.html").read_text(encoding="utf-8")
    assert '<html lang="nl">' in claim
    assert '<p lang="en">The overview covers exercise in general and rates the evidence low.</p>' in claim
    assert re.search(r'<span class="found-label">[^<]+</span> <span lang="en">Physical activity and exercise may improve', claim)
    article = (site / "article" / "mini.html").read_text(encoding="utf-8")
    assert re.search(r'<span class="reason-label">[^<]+</span> <span lang="en">The overview covers exercise', article)
    assert '<span lang="en">Physical activity and exercise may improve' in article
    assert '<dd lang="en">Authors&#39; conclusions</dd>' in claim
    reference = next((site / "references").glob("geneen*.html")).read_text(encoding="utf-8")
    assert '<span lang="en">Physical activity and exercise may improve' in reference

    out = tmp_path / "annotated.html"
    code, _out, err = run_kb(root, "render", "article", "-o", str(out))
    assert code == 0, err
    annotated = out.read_text(encoding="utf-8")
    assert '<div class="help" lang="en">The overview covers exercise in general' in annotated
    assert ': <span lang="en">Physical activity and exercise may improve' in annotated


def test_undeclared_review_language_marks_nothing(tmp_path, run_kb):
    root = make_kb(tmp_path / "kb")
    claim = (_site(run_kb, root) / "claims" / "pijn-oefentherapie.html").read_text(encoding="utf-8")
    assert "<p>The overview covers exercise in general and rates the evidence low.</p>" in claim
    assert 'lang="en">Physical activity' not in claim


def test_a_review_language_that_is_no_language_tag_is_an_error_at_its_line(tmp_path, run_kb):
    root = make_kb(tmp_path / "kb", kb_yaml=MINI_KB_YAML + 'review_language: "English <b>"\n')
    code, _out, err = run_kb(root, "check")
    assert code == 1
    assert re.search(r"^kb\.yaml:4:\d+: error: 'English <b>' is not a valid value for review_language; "
                     r"write a language tag, such as en, nl or pt-BR \[bad-value\]$", err, re.MULTILINE), err
    assert "Traceback" not in err


def test_lang_attr_escapes_and_is_empty_for_no_tag():
    from kb.render import lang_attr

    assert str(lang_attr("en")) == ' lang="en"'
    assert str(lang_attr('en"><script>')) == ' lang="en&#34;&gt;&lt;script&gt;"'
    assert lang_attr("") == ""
