"""kb's citation styles (kb/styles: vancouver, apa) and pybtex's own, on small fixtures and on the
real references of this repository (golden files in tests/cases/styles/expected/)."""

from __future__ import annotations

import tomllib
from importlib import import_module
from pathlib import Path

import pytest
from pybtex.database import parse_file, parse_string
from pybtex.plugin import find_plugin

from conftest import check_golden
from hypothesis import given
from hypothesis import strategies as st

from kb.cite import CitationPart, MarkdownBackend, cited_bibliography, format_reference, get_style, in_text, in_text_parts, style_names
from kb.errors import ConfigError
from kb.load import load_kb

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CASE = TESTS / "cases" / "styles"
FIXTURES = parse_file(str(CASE / "fixtures.bib"))


def fmt(style: str, key: str, backend: str = "text", bib=FIXTURES) -> str:
    return get_style(style).format_entry(key, bib.entries[key]).text.render_as(backend)


# -- registration ----------------------------------------------------------------------------

def test_styles_are_pybtex_plugins():
    from kb.styles import ApaStyle, VancouverStyle

    assert find_plugin("pybtex.style.formatting", "vancouver") is VancouverStyle
    assert find_plugin("pybtex.style.formatting", "apa") is ApaStyle
    assert {"vancouver", "apa", "plain", "unsrt", "alpha"} <= set(style_names())


def test_entry_points_in_pyproject_name_the_style_classes():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    points = project["entry-points"]["pybtex.style.formatting"]
    assert set(points) == {"vancouver", "apa"}
    for name, target in points.items():
        module, cls = target.split(":")
        assert getattr(import_module(module), cls) is find_plugin("pybtex.style.formatting", name)
    module, cls = project["entry-points"]["pybtex.style.labels"]["apa"].split(":")
    assert getattr(import_module(module), cls).__name__ == "ApaLabelStyle"


def test_a_checkout_never_installed_registers_the_styles_at_import(monkeypatch):
    import importlib.metadata

    import pybtex.plugin

    from kb import styles

    nothing = importlib.metadata.EntryPoints(())
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: nothing)  # no package names any plugin
    monkeypatch.setattr(pybtex.plugin, "entry_points", lambda **kw: nothing)
    monkeypatch.setattr(pybtex.plugin, "_RUNTIME_PLUGINS", {})
    with pytest.raises(pybtex.plugin.PluginNotFound):
        find_plugin("pybtex.style.formatting", "vancouver")
    styles.register()
    assert find_plugin("pybtex.style.formatting", "vancouver") is styles.VancouverStyle
    assert find_plugin("pybtex.style.formatting", "apa") is styles.ApaStyle
    assert find_plugin("pybtex.style.labels", "apa") is styles.ApaLabelStyle


def test_kb_styles_name_their_parts_by_class_as_pybtex_names_them():
    from kb.styles import ApaLabelStyle, ApaStyle, VancouverStyle

    for style, sorting, label in ((VancouverStyle, "none", "number"), (ApaStyle, "author_year_title", "apa")):
        made = style()
        assert type(made.sorting_style) is find_plugin("pybtex.style.sorting", sorting)
        assert type(made.label_style) is find_plugin("pybtex.style.labels", label)
        assert type(made.name_style) is find_plugin("pybtex.style.names", "plain")
    assert ApaStyle.default_label_style is ApaLabelStyle


def test_pybtex_styles_made_by_class_are_what_pybtex_makes_of_their_names():
    from kb import cite

    for name in ("plain", "unsrt", "alpha", "unsrtalpha"):
        made, named = cite._pybtex_style(name), find_plugin("pybtex.style.formatting", name)()
        assert type(made) is type(named)
        for part in ("name_style", "label_style", "sorting_style"):
            assert type(getattr(made, part)) is type(getattr(named, part)), (name, part)
    assert set(cite.PYBTEX_STYLES) | {"vancouver", "apa"} == cite.FIXED_STYLES


def test_the_fixed_style_names_are_kb_s_own_styles_and_pybtex_s():
    """kb/stylenames.py names kb's own styles without importing them: the same names as kb/styles' plugins."""
    from kb import stylenames, styles

    assert set(stylenames.OWN_STYLES) == {name for group, name, _ in styles.PLUGINS if group == "pybtex.style.formatting"}


def test_checking_a_knowledge_base_with_a_fixed_style_imports_no_formatting(tmp_path):
    """kb.yaml naming one of the fixed styles is checked without kb.cite (pybtex's formatting styles and a
    read of every package's entry points); a name that is not fixed is still looked for, and reported."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    code = ("import sys, kb; base = kb.load_kb(sys.argv[1]); problems = kb.validate(base); "
            "print(base.config.style, 'kb.cite' in sys.modules, 'pybtex.style.formatting' in sys.modules, "
            "sorted({d.code for d in problems if d.severity is kb.Severity.ERROR}))")
    env = {**os.environ, "KB_CACHE": "0"}
    run = lambda where: subprocess.run([sys.executable, "-c", code, str(where)], capture_output=True, text=True,  # noqa: E731
                                       check=True, env=env).stdout.strip().split(maxsplit=3)
    assert run(root) == ["vancouver", "False", "False", "[]"]
    (tmp_path / "claims").mkdir()
    (tmp_path / "references").mkdir()
    (tmp_path / "kb.yaml").write_text("title: t\nstyle: vancouvre\n", encoding="utf-8")
    style, cite, formatting, codes = run(tmp_path)
    assert (cite, "unknown-style" in codes) == ("True", True)


def test_making_styles_and_backends_reads_no_entry_points(monkeypatch):
    import pybtex.plugin

    from kb import cite

    searched = []
    real = pybtex.plugin.entry_points
    monkeypatch.setattr(pybtex.plugin, "entry_points", lambda **kw: searched.append(kw) or real(**kw))
    get_style.cache_clear()
    cite._backend.cache_clear()
    try:
        for style in ("vancouver", "apa", "plain", "unsrt", "alpha", "unsrtalpha"):  # kb's own and pybtex's
            get_style(style)
        for backend in ("text", "html", "latex", "markdown"):
            cite._backend(backend)
    finally:
        get_style.cache_clear()
        cite._backend.cache_clear()
    assert searched == []
    assert issubclass(type(cite._backend("text")), find_plugin("pybtex.backends", "text"))  # kb's, made from pybtex's

def test_unknown_style_is_a_config_error_with_a_hint():
    with pytest.raises(ConfigError) as info:
        get_style("vancuover")
    assert "unknown citation style 'vancuover'" in str(info.value)
    assert "did you mean 'vancouver'?" in str(info.value)


# -- Vancouver -------------------------------------------------------------------------------

def test_vancouver_particles_accents_and_lineage():
    assert fmt("vancouver", "particles") == (
        "van der Esch M, de Vries AL, Müller J, Çelik Ö, García Márquez J, Smith JA Jr. "
        "A fictitious test of Dutch name particles and ümlauts in BibTeX. Fict J Test. 2020;12(3):101-9."
    )


def test_vancouver_cuts_more_than_six_authors_to_six_and_et_al():
    assert fmt("vancouver", "seven").startswith("Jansen JP, Bakker B, Visser V, Smit S, Meijer M, de Boer B, et al. Seven authors:")
    assert "Mulder" not in fmt("vancouver", "seven")
    assert fmt("vancouver", "seven").endswith("Fictitious Journal of Testing. 2021;13:e1234.")


def test_vancouver_says_editor_for_one_editor_and_editors_for_several():
    bib = parse_string("""
@book{one, editor = {van der Berg, Karel}, title = {An edited book}, publisher = {Test Press}, address = {Utrecht}, year = {2013}}
@book{two, editor = {van der Berg, Karel and Dekker, Dirk}, title = {An edited book}, publisher = {Test Press}, address = {Utrecht}, year = {2013}}
@incollection{chapter, author = {Peeters, Piet}, title = {A chapter}, booktitle = {A handbook}, editor = {Dekker, Dirk},
  publisher = {Test Press}, address = {Ghent}, year = {2011}, pages = {10--20}}
""", "bibtex")
    assert fmt("vancouver", "one", bib=bib).startswith("van der Berg K, editor. An edited book.")
    assert fmt("vancouver", "two", bib=bib).startswith("van der Berg K, Dekker D, editors. An edited book.")
    assert "In: Dekker D, editor. A handbook." in fmt("vancouver", "chapter", bib=bib)


def test_vancouver_other_entry_types():
    assert fmt("vancouver", "book") == "World Health Organization. A fictitious book title for testing. 2nd ed. Geneva: Test Press; 2019."
    assert fmt("vancouver", "chapter") == (
        "Peeters P. A fictitious chapter. In: van den Berg K, Dekker D, editors. A fictitious handbook. Amsterdam: Test Press; 2018. p. 45-67."
    )
    assert fmt("vancouver", "web") == "A fictitious web page [Internet]. 2024 [cited 2025-01-31]. Available from: https://example.org/page"


def test_vancouver_geneen_as_in_the_brief():
    kb = load_kb(REPO)
    text, problem = format_reference(kb, "geneen2017", "vancouver")
    assert problem is None
    assert text.startswith("Geneen LJ, Moore RA, Clarke C, Martin D, Colvin LA, Smith BH. Physical activity and exercise for chronic pain in adults")
    assert "doi:10.1002/14651858.cd011279.pub3" in text


def test_vancouver_leaves_no_dangling_punctuation_when_volume_and_pages_are_missing():
    bib = parse_string("@article{x, author={Doe, Jane}, title={T}, journal={J}, year={2023}}", "bibtex")
    assert fmt("vancouver", "x", bib=bib) == "Doe J. T. J. 2023."


# -- APA -------------------------------------------------------------------------------------

def test_apa_particles_accents_and_lineage():
    assert fmt("apa", "particles") == (
        "van der Esch, M., de Vries, A.-L., Müller, J., Çelik, Ö., García Márquez, J., & Smith, J. A., Jr. (2020). "
        "A fictitious test of Dutch name particles and ümlauts in BibTeX. Fictitious Journal of Testing, 12(3), 101–109."
    )


def test_apa_lists_up_to_twenty_authors_then_nineteen_ellipsis_last():
    seven = fmt("apa", "seven")
    assert seven.startswith("Jansen, J.-P., Bakker, B., Visser, V., Smit, S., Meijer, M., de Boer, B., & Mulder, M. (2021). Seven authors: Where")
    many = fmt("apa", "many")
    assert "A19, A., . . . Last, L. (2022)." in many
    assert "A20" not in many


def test_apa_other_entry_types_and_italics():
    assert fmt("apa", "book") == "World Health Organization. (2019). A fictitious book title for testing (2nd ed.). Test Press."
    assert fmt("apa", "chapter") == "Peeters, P. (2018). A fictitious chapter. In K. van den Berg & D. Dekker (Eds.), A fictitious handbook (pp. 45–67). Test Press."
    assert fmt("apa", "web") == "A fictitious web page. (2024). https://example.org/page"
    assert fmt("apa", "particles", "html").count("<em>") == 2  # journal and volume
    assert "*Fictitious Journal of Testing*, *12*(3), 101–109." in get_style("apa").format_entry("particles", FIXTURES.entries["particles"]).text.render(MarkdownBackend())


def test_apa_labels_are_author_date_with_suffixes():
    bib = parse_string(
        "@article{a, author={Lim, J. and Choi, A. and Kim, B.}, title={A}, journal={J}, year={2024}}\n"
        "@article{b, author={Lim, J. and Park, C. and Kim, B.}, title={B}, journal={J}, year={2024}}\n"
        "@article{c, author={Seguin, Rebecca and Nelson, Miriam E.}, title={C}, journal={J}, year={2003}}\n"
        "@article{d, author={van der Esch, Martin}, title={D}, journal={J}, year={2019}}\n", "bibtex")
    style = get_style("apa")
    entries = list(style.sort(bib.entries.values()))
    labels = dict(zip((e.key for e in entries), style.format_labels(entries)))
    assert labels == {"a": "Lim et al., 2024a", "b": "Lim et al., 2024b", "c": "Seguin & Nelson, 2003", "d": "van der Esch, 2019"}


def test_sentence_case_keeps_braces_acronyms_and_capitalises_after_colon():
    from pybtex.richtext import Text

    from kb.styles._common import sentence_case

    title = Text.from_latex("The Effects of RCT Designs in {Europe}: A Meta-Analysis of COVID-19 and mRNA Trials")
    assert str(sentence_case(title)) == "The effects of RCT designs in Europe: A meta-analysis of COVID-19 and mRNA trials"
    assert str(sentence_case(title, after_colon=False)) == "The effects of RCT designs in Europe: a meta-analysis of COVID-19 and mRNA trials"


def test_page_ranges():
    from pybtex.richtext import Text

    from kb.styles._common import elide_pages, en_dash_pages

    assert [str(elide_pages(Text(p))) for p in ("141--149", "2019--2052", "329--348", "5--9", "1100--1200", "CD011279", "e1--e9")] == [
        "141-9", "2019-52", "329-48", "5-9", "1100-200", "CD011279", "e1-9"]
    assert str(en_dash_pages(Text("871--877"))) == "871\u2013877"


# -- markdown and html output ----------------------------------------------------------------

def test_markdown_backend_escapes_markup_but_stays_readable():
    bib = parse_string("@article{x, author={Doe, Jane}, title={Use of *stars* and _under_ and @at [x] <b>}, journal={J \\& K}, "
                       "year={2023}, url={https://example.org/a_(b)}}", "bibtex")
    text = get_style("apa").format_entry("x", bib.entries["x"]).text.render(MarkdownBackend())
    assert text == ("Doe, J. (2023). Use of \\*stars\\* and \\_under\\_ and \\@at \\[x\\] \\<b\\>. *J & K*. "
                    "[https://example.org/a\\_(b)](https://example.org/a_%28b%29)")


def test_markdown_backend_drops_unsafe_links():
    bib = parse_string("@misc{x, title={T}, year={2020}, url={javascript:alert(1)}}", "bibtex")
    text = get_style("apa").format_entry("x", bib.entries["x"]).text.render(MarkdownBackend())
    assert "](" not in text and "javascript" in text  # shown as text, never a link


# -- documents: order, labels and in-text citations -------------------------------------------

def test_cited_bibliography_orders_and_labels_like_the_style():
    kb = load_kb(REPO)
    order = ["lim2024", "geneen2017", "seguin2003"]
    vancouver = cited_bibliography(kb, order, "vancouver")
    assert [(e.key, e.label) for e in vancouver] == [("lim2024", "1"), ("geneen2017", "2"), ("seguin2003", "3")]
    plain = cited_bibliography(kb, order, "plain")
    assert [(e.key, e.label) for e in plain] == [("geneen2017", "1"), ("lim2024", "2"), ("seguin2003", "3")]
    apa = cited_bibliography(kb, order, "apa")
    assert [e.label for e in apa] == ["Geneen et al., 2017", "Lim et al., 2024", "Seguin & Nelson, 2003"]
    assert cited_bibliography(kb, ["nosuchkey"], "apa")[0].problem == "unknown reference"


def test_in_text_citations():
    assert in_text(["1", "2"], "vancouver") == "[1, 2]"
    assert in_text(["3", "1", "2", "5"], "unsrt") == "[1\u20133, 5]"
    assert in_text(["GMC+17"], "alpha") == "[GMC+17]"
    assert in_text(["Lim et al., 2024", "Geneen et al., 2017"], "apa") == "(Geneen et al., 2017; Lim et al., 2024)"
    assert in_text([], "apa") == ""


def test_in_text_parts_name_each_source_shown():
    """A citation in parts: brackets and separators as text, each label shown as its own part naming the
    label it stands for; of a range such as 1–3 the first and last number, the dash between them."""
    P = CitationPart
    assert in_text_parts(["2", "1"], "vancouver") == (P("[", "open"), P("1", "label", "1"), P(", ", "separator"),
                                                      P("2", "label", "2"), P("]", "close"))
    assert in_text_parts(["3", "1", "2", "5"], "unsrt") == (P("[", "open"), P("1", "label", "1"), P("\u2013", "range"),
                                                            P("3", "label", "3"), P(", ", "separator"), P("5", "label", "5"),
                                                            P("]", "close"))
    assert in_text_parts(["GMC+17", "LLK24", "GMC+17"], "alpha") == (P("[", "open"), P("GMC+17", "label", "GMC+17"),
                                                                    P(", ", "separator"), P("LLK24", "label", "LLK24"), P("]", "close"))
    assert in_text_parts(["Lim et al., 2024", "Geneen et al., 2017"], "apa") == (
        P("(", "open"), P("Geneen et al., 2017", "label", "Geneen et al., 2017"), P("; ", "separator"),
        P("Lim et al., 2024", "label", "Lim et al., 2024"), P(")", "close"))
    assert in_text_parts([], "vancouver") == ()


_NUMBERS = st.lists(st.integers(1, 40).map(str), max_size=12)
_CODES = st.lists(st.sampled_from(["GMC+17", "LLK24", "HMB04", "SN03", "7", "Lim et al., 2024", "Seguin & Nelson, 2003"]), max_size=8)


@given(labels=st.one_of(_NUMBERS, _CODES), style=st.sampled_from(["vancouver", "unsrt", "plain", "alpha", "apa"]))
def test_in_text_is_the_join_of_its_parts(labels, style):
    parts = in_text_parts(labels, style)
    assert in_text(labels, style) == "".join(p.text for p in parts)
    named = [p.label for p in parts if p.kind == "label"]
    assert all(p.label is None for p in parts if p.kind != "label")
    assert len(named) == len(set(named)) and set(named) <= set(labels)
    if labels and all(l.isdigit() for l in labels):
        # every number is shown or hidden inside a range whose ends are shown
        shown = {int(p.text) for p in parts if p.kind == "label"}
        ends = [(int(parts[i - 1].text), int(parts[i + 1].text)) for i, p in enumerate(parts) if p.kind == "range"]
        assert {int(l) for l in labels} == shown | {n for a, b in ends for n in range(a, b + 1)}
        assert all(b - a >= 2 for a, b in ends)
    else:
        assert set(named) == set(labels)  # every other label is shown once


# -- golden: every style on the real references ----------------------------------------------

@pytest.mark.parametrize("style", ["vancouver", "apa", "plain", "unsrt", "alpha"])
@pytest.mark.parametrize("backend", ["text", "md"])
def test_golden_real_references(style, backend, update_golden):
    kb = load_kb(REPO)
    entries = cited_bibliography(kb, list(kb.references), style, backend)
    assert all(e.problem is None for e in entries), [e for e in entries if e.problem]
    actual = "".join(f"[{e.label}] {e.text}\n" for e in entries)
    check_golden(CASE / "expected" / f"krachttraining.{style}.{backend}", actual, update_golden)


@pytest.mark.parametrize("style", ["vancouver", "apa", "plain", "unsrt", "alpha"])
def test_golden_fixtures(style, update_golden):
    s = get_style(style)
    out = []
    for key, entry in FIXTURES.entries.items():
        try:
            out.append(f"{key}: {s.format_entry(key, entry).text.render_as('text')}\n")
        except Exception as exc:  # pybtex's own styles refuse some fixtures (e.g. misc without author is fine, book without editor...)
            out.append(f"{key}: ERROR {type(exc).__name__}: {exc}\n")
    check_golden(CASE / "expected" / f"fixtures.{style}.txt", "".join(out), update_golden)


def test_a_missing_required_field_spoils_only_that_entry(tmp_path):
    from conftest import make_kb

    bib = ("@article{nojournal, author={Doe, Jane}, title={No journal}, year={2020}, verified={false}}\n"
           "@article{ok, author={Roe, Rita}, title={Fine}, journal={J}, year={2021}, verified={false}}\n")
    kb = load_kb(make_kb(tmp_path / "kb", claims={}, bib=bib))
    entries = cited_bibliography(kb, ["nojournal", "ok"], "vancouver")
    assert [(e.key, e.text, e.problem) for e in entries] == [
        ("nojournal", "[nojournal: missing journal in nojournal]", "missing journal in nojournal"),
        ("ok", "Roe R. Fine. J. 2021.", None),
    ]
