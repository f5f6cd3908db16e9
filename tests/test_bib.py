"""kb.bib: BibTeX text -> Reference records and located diagnostics (whole message strings)."""

from __future__ import annotations

import pytest

from conftest import MINI_BIB
from kb.bib import latex_to_text, normalize_doi, parse_bib_file, parse_bib_text


def diags(text: str) -> list[str]:
    return [str(d) for d in parse_bib_text(text, "r.bib")[2]]


ENTRY = """\
@article{geneen2017,
  author = {Geneen, Louise J. and Moore, R. Andrew},
  title = {Physical activity and exercise for chronic pain in adults},
  year = {2017},
  doi = {https://doi.org/10.1002/14651858.CD011279.pub3}
}
"""


def test_clean_file_gives_references_and_no_diagnostics():
    data, refs, problems = parse_bib_text(MINI_BIB, "references/refs.bib")
    assert problems == []
    assert [r.key for r in refs] == ["geneen2017", "lauersen2014"]
    geneen = refs[0]
    assert geneen.location.path == "references/refs.bib"
    assert (geneen.location.line, geneen.location.column) == (2, 1)
    assert geneen.year == 2017 and geneen.verified is True and geneen.study_type == "cochrane-overview"
    assert geneen.title == "Physical activity and exercise for chronic pain in adults: an overview of Cochrane Reviews"
    assert geneen.pages == "CD011279"  # eid stands in for pages
    assert [a.family for a in geneen.authors][:2] == ["Geneen", "Moore"]
    assert geneen.short == "Geneen et al. 2017"
    assert set(data.entries) == {"geneen2017", "lauersen2014"}


def test_doi_is_normalised():
    ref = parse_bib_text(ENTRY, "r.bib")[1][0]
    assert ref.doi == "10.1002/14651858.cd011279.pub3"
    assert normalize_doi("doi: 10.1136/BJSPORTS-2013-092538") == "10.1136/bjsports-2013-092538"


@pytest.mark.parametrize("latex, text", [
    (r"Gene{\"e}n", "Geneën"),
    (r"{\'E}tude", "Étude"),
    (r"an overview of {Cochrane} Reviews", "an overview of Cochrane Reviews"),
    (r"\emph{in vivo} effects", "in vivo effects"),
    ("plain text", "plain text"),
])
def test_latex_becomes_unicode(latex, text):
    assert latex_to_text(latex) == (text, ())


def test_unconvertible_latex_is_named():
    assert latex_to_text(r"\foreign{Cochrane}")[1] == (r"\foreign",)


@pytest.mark.parametrize("latex, text", [
    (r"{\em in vivo} effects", "in vivo effects"),
    (r"\mkbibitalic{in vivo} and {\bf bold}", "in vivo and bold"),
    (r"Muscle mass per m\textsuperscript{2} and H\textsubscript{2}O", "Muscle mass per m² and H₂O"),
    (r"Exercise in $x^2$ and $\alpha$ motor units, $\geq 60$ years", "Exercise in x² and α motor units, ≥ 60 years"),
    (r"Data at \url{https://example.org/a\_b} and \href{https://example.org}{the site}", "Data at https://example.org/a_b and the site"),
    (r"Costs of \$5 and \{braces\}", "Costs of $5 and {braces}"),
    (r"\enquote{Exercise is medicine}", "\u201cExercise is medicine\u201d"),
])
def test_latex_markup_is_read_as_in_citations(latex, text):
    """kb.bib's plain text (reference pages' titles, kb check) reads markup as citations do (kb/latex.py)."""
    from kb import cite

    assert latex_to_text(latex) == (text, ())
    assert cite._render_text(cite._parse_latex(latex), "text") == text


def test_bib_latex_warns_only_about_commands_nothing_knows_and_names_each():
    markup = ENTRY.replace("adults", r"{\em adults}, m\textsuperscript{2}, \url{https://x.org}, \href{https://x.org}{x}, \mkbibitalic{y}")
    assert diags(markup) == []
    unknown = ENTRY.replace("adults", r"\foreign{adults}, $\frac{a}{b}$ and \foreign{x} \bar{y}")
    assert diags(unknown) == [
        "r.bib:3:3: warning: entry 'geneen2017': LaTeX in field 'title' does not convert to text near '\\\\foreign', '\\\\frac' and "
        "'\\\\bar'; write the character in Unicode instead [bib-latex]"]
    assert parse_bib_text(unknown, "r.bib")[1][0].title == r"Physical activity and exercise for chronic pain in \foreign adults, \frac{a}{b} and \foreign x \bar y"


def test_a_backslash_in_a_link_address_is_no_command():
    """An address is taken as written (kb/latex.py): ``\\url{.../a\\b}`` keeps its backslash and gets no
    bib-latex warning; a command in the text of ``\\href`` still does."""
    linked = ENTRY.replace("adults", r"adults, \url{https://x.org/a\b_c}, \href{https://x.org/d\e}{here}")
    assert diags(linked) == []
    assert r"https://x.org/a\b_c" in parse_bib_text(linked, "r.bib")[1][0].title
    assert latex_to_text(r"\href{https://x.org/a\b}{\bar text}") == (r"\bar text", (r"\bar",))


def test_money_written_as_maths_is_reported():
    """'$5 and $10' opens LaTeX maths at the first $ and closes it at the second: the text loses both dollar
    signs. kb reads it as LaTeX does, and says so; escaped dollars and real maths pass."""
    money = ENTRY.replace("adults", r"adults, at $5 and $10 a session")
    assert diags(money) == [
        "r.bib:3:3: warning: entry 'geneen2017': '$5 and $' in field 'title' is read as LaTeX maths (between two $), "
        "so its dollar signs are dropped; write \\$ for a dollar sign [bib-latex]"]
    assert parse_bib_text(money, "r.bib")[1][0].title.endswith("adults, at 5 and 10 a session")
    for fine in (r"adults, at \$5 and \$10 a session", r"adults, $p < 0.05$, $n = 10$ and $2 \times 2$", r"adults, $5$ and $10$"):
        assert diags(ENTRY.replace("adults", fine)) == [], fine


def test_dutch_particles_are_kept_apart():
    text = ENTRY.replace("Geneen, Louise J. and Moore, R. Andrew", "van der Esch, Martin and de Vries, Anna")
    ref = parse_bib_text(text, "r.bib")[1][0]
    assert [(a.prefix, a.family, a.given) for a in ref.authors] == [("van der", "Esch", "Martin"), ("de", "Vries", "Anna")]
    assert ref.authors[0].full_family == "van der Esch"
    assert ref.short == "van der Esch & de Vries 2017"


def test_missing_comma_after_key_is_reported():
    """pybtex accepts it silently; kb does not."""
    assert diags(ENTRY.replace("geneen2017,", "geneen2017")) == [
        "r.bib:1:20: error: missing comma after the entry key 'geneen2017'; write @article{geneen2017, ... [bib-syntax]"]


def test_missing_comma_between_fields():
    assert diags(ENTRY.replace("year = {2017},", "year = {2017}")) == [
        "r.bib:5:3: error: missing comma before field 'doi'; end each field with a comma [bib-syntax]"]


def test_unclosed_brace_points_at_its_line_not_at_the_next_entry():
    text = ENTRY.replace("title = {Physical", "title = {{Physical") + "\n" + ENTRY.replace("geneen2017", "moore2018")
    assert diags(text) == [
        "r.bib:3:11: error: unbalanced braces: a '{' is never closed in entry 'geneen2017' (line 1); "
        "add the missing '}'; BibTeX reads on to the next entry and loses fields [bib-braces]"]


def test_extra_closing_brace():
    assert diags(ENTRY.replace("adults},", "adults}},")) == [
        "r.bib:3:70: error: entry 'geneen2017' ends here, but fields follow that are ignored; remove the extra '}' [bib-braces]"]



def test_extra_closing_brace_inside_a_value_with_more_text_after_it():
    """pybtex ends the entry at the extra brace and drops every field after it: title, year, DOI."""
    assert diags(ENTRY.replace("title = {Physical", "title = {Physical}}")) == [
        "r.bib:3:21: error: entry 'geneen2017' ends here, but fields follow that are ignored; remove the extra '}' [bib-braces]"]


def test_text_between_entries_is_a_comment_not_an_extra_brace():
    text = ENTRY + "\n% from the library catalogue:\nnote = see {above}\n\n" + ENTRY.replace("geneen2017", "moore2018")
    assert diags(text) == []

def test_duplicate_key_in_one_file_ignores_case():
    text = ENTRY + "\n" + ENTRY.replace("geneen2017", "Geneen2017")
    assert diags(text) == [
        "r.bib:8:1: error: duplicate BibTeX key 'Geneen2017' (first defined on line 1); "
        "rename or remove one entry; claims refer to references by key [bib-duplicate-key]"]


def test_no_author_and_no_year():
    text = ENTRY.replace("  author = {Geneen, Louise J. and Moore, R. Andrew},\n", "").replace("  year = {2017},\n", "")
    assert diags(text) == [
        "r.bib:1:1: warning: entry 'geneen2017': no author; add an author field (all authors, joined with 'and') [bib-missing-field]",
        "r.bib:1:1: warning: entry 'geneen2017': no year [bib-missing-field]",
    ]


def test_editor_stands_in_for_author():
    text = ENTRY.replace("author =", "editor =")
    assert diags(text) == []


@pytest.mark.parametrize("doi", ["bjsports-2013-092538", "10.12/x", "10.1136/ has space"])
def test_malformed_doi(doi):
    (line,) = diags(ENTRY.replace("https://doi.org/10.1002/14651858.CD011279.pub3", doi))
    assert line == (f"r.bib:5:3: error: entry 'geneen2017': malformed DOI {doi!r}; a DOI looks like 10.1002/14651858.CD011279.pub3 "
                    "[bad-doi]")


def test_undefined_macro():
    assert diags(ENTRY.replace("year = {2017},", "year = {2017},\n  month = juni,")) == [
        "r.bib:5:11: error: undefined macro 'juni'; put text values in braces: {...}; bare words must be @string macros or month names "
        "[bib-syntax]"]


def test_month_macros_are_known():
    assert diags(ENTRY.replace("year = {2017},", "year = {2017},\n  month = apr,")) == []


def test_premature_end_of_file():
    assert diags("@article{x,\n  title = {T},\n  year = {2017") == [
        "r.bib:3:10: error: unbalanced braces: a '{' is never closed in entry 'x' (line 1); "
        "add the missing '}'; BibTeX reads on to the next entry and loses fields [bib-braces]"]


@pytest.mark.parametrize("raw, where", [
    (b"\xef\xbb\xbf@article{caf\xe9,\n  title = {T}}\n", "1:13"),  # the byte order mark is not counted (it was: 1:16)
    (b"@article{x,\n  title = {\xc3\xa9t\xe9}}\n", "2:14"),  # '\xc3\xa9' is one character (it was: 2:15)
], ids=["after-a-bom", "after-an-accent"])
def test_a_byte_that_is_not_utf8_is_at_its_column_in_characters(tmp_path, raw, where):
    """The column of a bad byte counts characters, as every other column kb gives (and as kb import, kb extract and kb
    retractions give it for the files they are given, through the same kb.errors.decode_utf8)."""
    bad = tmp_path / "bad.bib"
    bad.write_bytes(raw)
    assert [str(d) for d in parse_bib_file(bad, "references/bad.bib")[2]] == [
        f"references/bad.bib:{where}: error: invalid UTF-8 byte 0xe9; save the file as UTF-8 [encoding]"]


def test_file_level_problems(tmp_path):
    bad = tmp_path / "latin1.bib"
    bad.write_bytes(ENTRY.replace("Geneen,", "G\xe9neen,").encode("latin-1"))
    assert [str(d) for d in parse_bib_file(bad, "references/latin1.bib")[2]] == [
        "references/latin1.bib:2:14: error: invalid UTF-8 byte 0xe9; save the file as UTF-8 [encoding]"]
    bom = tmp_path / "bom.bib"
    bom.write_bytes(b"\xef\xbb\xbf" + ENTRY.encode())
    data, refs, problems = parse_bib_file(bom, "references/bom.bib")
    assert [r.key for r in refs] == ["geneen2017"]
    assert [str(d) for d in problems] == [
        "references/bom.bib:1:1: warning: file starts with a byte order mark; it was ignored; save the file as UTF-8 without BOM [bom]"]


def test_nested_braces_do_not_crash():
    text = "@article{x,\n  title = {" + "{" * 5000 + "}" * 5000 + "},\n  year = {2017}\n}\n"
    data, refs, problems = parse_bib_text(text, "r.bib")
    assert all(d.location.path == "r.bib" for d in problems)


def test_garbage_gives_located_diagnostics():
    for text in ["@", "@article", "@article{", "@article{,}", "}}}}", "@article{x, title = {a} # }", "@string{a = {x}}\n@article{y, title = a # {b}}"]:
        data, refs, problems = parse_bib_text(text, "r.bib")
        for d in problems:
            assert str(d).startswith("r.bib"), d


def test_identifiers_are_verbatim_and_dashes_are_dashes():
    text = ENTRY.replace("year = {2017},", "year = {2017},\n  pages = {871--877},\n  note = {before---after},\n"
                         "  url = {https://example.org/\\~{}user/a\\_b~c},")
    data, refs, problems = parse_bib_text(text, "r.bib")
    assert problems == []
    ref = refs[0]
    assert ref.pages == "871\u2013877"
    assert ref.fields["note"] == "before\u2014after"
    assert ref.url == "https://example.org/~user/a_b~c"  # '~' in a URL is not a LaTeX non-breaking space
