"""Citation markers in every form the issue names, and resolution by first author and year."""

import pytest

from kb.bib import parse_bib_text
from kb.citations import Cite, Resolver, find_markers, fold, parse_numbered_entry
from kb.model import Author, Reference


def cites(text):
    return [(c.family, c.year + c.suffix) for m in find_markers(text) for c in m.cites]


@pytest.mark.parametrize("text, expected", [
    ("Exercise helps (Geneen et al., 2017).", [("Geneen", "2017")]),
    ("Exercise helps (Geneen et al. 2017; Lim et al., 2024).", [("Geneen", "2017"), ("Lim", "2024")]),
    ("Older adults benefit (Seguin & Nelson, 2003).", [("Seguin", "2003")]),
    ("Older adults benefit (Seguin and Nelson 2003).", [("Seguin", "2003")]),
    ("Hayden and colleagues (2021) disagreed.", [("Hayden", "2021")]),
    ("Geneen et al. (2017) found that it helps.", [("Geneen", "2017")]),
    ("Two papers (Smith, 2019a, 2019b) and more (Smith 2019a, b).", [("Smith", "2019a"), ("Smith", "2019b"), ("Smith", "2019a"), ("Smith", "2019b")]),
    ("Mentale gezondheid (Geneen et al.; 2017; Lim et al.; 2024).", [("Geneen", "2017"), ("Lim", "2024")]),
    ("Particles (van der Esch et al., 2019) and (Van der Esch, 2019).", [("van der Esch", "2019"), ("Van der Esch", "2019")]),
    ("Locators and prefixes (e.g., Fragala et al., 2019, p. 5; see Lim, 2024).", [("Fragala", "2019"), ("Lim", "2024")]),
    ("Van der Esch et al. (2019, 2020) found it.", [("Van der Esch", "2019"), ("Van der Esch", "2020")]),
    ("Dutch narrative: Hunter en collega's (2004) zagen het.", [("Hunter", "2004")]),
    ("Three names (Lemos, Guadagnin, & Mota, 2020).", [("Lemos", "2020")]),
])
def test_author_year_forms(text, expected):
    assert cites(text) == expected


def test_a_particle_is_a_word_of_its_own():
    """The "den" of "toonden" began a name ("den Jansen")."""
    text = "Daarnaast toonden Jansen en De Vries (2020) het aan."
    (marker,) = find_markers(text)
    assert cites(text) == [("Jansen", "2020")] and marker.raw == "Jansen en De Vries (2020)"


@pytest.mark.parametrize("text, key", [
    ("Also Syed-Abdul et al. (2022) found it.", "syedabdul2021"),  # through citedas, without the word before the name
    ("Ook Syed-Abdul et al. (2022) vonden het.", "syedabdul2021"),
    ("Volgens Geneen et al. (2017) helpt het.", "geneen2017"),  # the name without its leading word
    ("Still et al. (2020) found it.", "still2020"),  # a name that is also a word: kept
    ("Still and Smith (2020) found it.", "still2020"),
    ("Both et al. (2020) found it.", "both2020"),
])
def test_a_word_before_the_name_does_not_stop_it_resolving(text, key):
    refs = [ref("syedabdul2021", "Syed-Abdul", 2021, more=2, cited_as="Syed-Abdul et al. 2022"), ref("geneen2017", "Geneen", 2017, more=5),
            ref("still2020", "Still", 2020, more=2), ref("smith2020", "Smith", 2020), ref("both2020", "Both", 2020, more=3)]
    (marker,) = find_markers(text)
    assert Resolver(refs).resolve(marker.cites[0]).keys == (key,)


def test_a_sentence_word_read_as_the_first_of_a_list_of_names():
    """'However, Smith and Jones (2020)' reads as three names, the first 'However': with no first author of that
    name in the bibliography, the list without it resolves, with a note for a reviewer; a real first author wins."""
    smith = Reference(key="smith2020", entry_type="article", title="Synthetic test entry", year=2020,
                      authors=(Author(family="Smith", given="A."), Author(family="Jones", given="B.")))
    (marker,) = find_markers("However, Smith and Jones (2020) found it.")
    found = Resolver([smith]).resolve(marker.cites[0])
    assert (found.status, found.keys) == ("resolved", ("smith2020",))
    assert found.note == "read as 'Smith and Jones 2020': 'However' names no first author in the bibliography"
    (marker,) = find_markers("Still, Smith and Jones (2020) found it.")
    assert Resolver([smith, ref("still2020", "Still", 2020, more=2)]).resolve(marker.cites[0]).keys == ("still2020",)
    (marker,) = find_markers("However, Brown and Jones (2020) found it.")
    found = Resolver([smith]).resolve(marker.cites[0])
    assert found.status == "unresolved"  # the note names Brown, the author the marker means, not the sentence's 'However'
    assert found.note == ("no reference by Brown in 2020 in the bibliography "
                          "(read as 'Brown and Jones 2020': 'However' names no first author either)")


def test_marker_offsets_and_kinds():
    text = "Geneen et al. (2017) found it, as did others (Lim et al., 2024)."
    narrative, parenthetical = find_markers(text)
    assert (narrative.kind, text[narrative.start:narrative.end]) == ("narrative", "Geneen et al. (2017)")
    assert (parenthetical.kind, parenthetical.raw) == ("parenthetical", "(Lim et al., 2024)")


@pytest.mark.parametrize("text, numbers", [
    ("It helps [1].", [1]), ("It helps [1-3].", [1, 2, 3]), ("It helps [2, 5].", [2, 5]), ("It helps [1–2, 7].", [1, 2, 7]),
])
def test_numeric_markers(text, numbers):
    (marker,) = find_markers(text)
    assert marker.kind == "numeric" and list(marker.numbers) == numbers


@pytest.mark.parametrize("text", [
    "Bij ouderen (≥60 jaar) werkt het.", "Passieve technieken (zoals massage of manipulatie) helpen niet.",
    "It started (in 2019) slowly.", "A [link](https://example.org/1) is no marker.", "Only numbers (n = 1712).",
])
def test_not_citations(text):
    assert find_markers(text) == []


def test_year_without_a_name_is_reported_not_dropped():
    (marker,) = find_markers("the guideline (2017) says so")
    assert marker.cites == () and "no author name" in marker.problems[0]


def test_fold():
    assert fold("Müller-Lüdenscheidt") == "mullerludenscheidt"
    assert fold("Syed-Abdul") == "syedabdul"
    assert fold("Søgaard") == "sogaard"


# Synthetic entries (no real publication is described): they exercise name matching only.
def ref(key, family, year, *, prefix="", given="A.", more=0, title="Synthetic test entry", cited_as=""):
    authors = (Author(family=family, given=given, prefix=prefix),) + tuple(Author(family=f"Other{i}", given="B.") for i in range(more))
    return Reference(key=key, entry_type="article", title=title, authors=authors, year=year, cited_as=cited_as)


def resolve(refs, family, year, suffix="", *, second="", et_al=False):
    return Resolver(refs).resolve(Cite(authors=family, family=family, year=year, suffix=suffix, second=second, et_al=et_al))


def test_particles_diacritics_hyphens_and_two_part_names():
    refs = [ref("esch2019", "Esch", 2019, prefix="van der"), ref("muller2018", "Müller", 2018),
            ref("syedabdul2021", "Syed-Abdul", 2021), ref("kashi2023", "Khodadad Kashi", 2023, more=2)]
    assert resolve(refs, "van der Esch", "2019").key == "esch2019"
    assert resolve(refs, "Van der Esch", "2019").key == "esch2019"
    assert resolve(refs, "Esch", "2019").key == "esch2019"
    assert resolve(refs, "Muller", "2018").key == "muller2018"
    assert resolve(refs, "Mueller", "2018").status == "unresolved"
    assert resolve(refs, "Syed-Abdul", "2021").key == "syedabdul2021"
    assert resolve(refs, "Kashi", "2023", et_al=True).key == "kashi2023"
    assert resolve(refs, "Khodadad Kashi", "2023", et_al=True).key == "kashi2023"
    assert resolve(refs, "However Kashi", "2023").key == "kashi2023"


def test_year_suffix_by_key_then_by_title_order():
    by_key = [ref("smith2019a", "Smith", 2019, title="Zebra"), ref("smith2019b", "Smith", 2019, title="Aardvark")]
    assert resolve(by_key, "Smith", "2019", "a").key == "smith2019a"
    by_title = [ref("one", "Smith", 2019, title="The zebra study"), ref("two", "Smith", 2019, title="An aardvark study")]
    result = resolve(by_title, "Smith", "2019", "a")
    assert result.key == "two" and "APA" in result.note
    assert resolve(by_title, "Smith", "2019", "b").key == "one"


def test_ambiguity_is_reported_never_guessed():
    refs = [ref("smith2019x", "Smith", 2019), ref("smith2019y", "Smith", 2019)]
    result = resolve(refs, "Smith", "2019")
    assert result.status == "ambiguous" and result.key is None
    assert result.keys == ("smith2019x", "smith2019y")


def test_second_author_and_author_count_narrow_candidates():
    refs = [ref("a", "Seguin", 2003, more=1), ref("b", "Seguin", 2003, more=3)]
    refs[0] = Reference(key="a", entry_type="article", title="T", year=2003,
                        authors=(Author("Seguin", "R."), Author("Nelson", "M.")))
    assert resolve(refs, "Seguin", "2003", second="Nelson").key == "a"
    assert resolve(refs, "Seguin", "2003", et_al=True).key == "b"


def test_unresolved_names_a_near_miss():
    result = resolve([ref("syedabdul2021", "Syed-Abdul", 2021)], "Syed-Abdul", "2022", et_al=True)
    assert result.status == "unresolved"
    assert "syedabdul2021" in result.note and "other year" in result.note


def test_citedas_field_resolves_a_citation_with_the_wrong_year():
    refs = [ref("syedabdul2022", "Syed-Abdul", 2021, cited_as="Syed-Abdul et al.; 2022")]
    result = Resolver(refs).resolve(Cite("Syed-Abdul et al.", "Syed-Abdul", "2022", et_al=True))
    assert result.key == "syedabdul2022" and "citedas" in result.note


BIB_FLAVOURS = {
    "zotero": "@article{esch_knee_2019,\n\ttitle = {Synthetic {Knee} entry},\n\tjournal = {J},\n\tauthor = {van der Esch, Martin and Smith, John},\n\tyear = {2019},\n}\n",
    "better-bibtex": "@article{vanderEschKnee2019,\n  title = {Synthetic Knee entry},\n  author = {{van der Esch}, Martin and Smith, John},\n  date = {2019},\n  year = {2019}\n}\n",
    "jabref": "@Article{Esch2019,\n  Author    = {Van der Esch, M. and Smith, J.},\n  Title     = {Synthetic knee entry},\n  Year      = {2019},\n}\n\n@Comment{jabref-meta: databaseType:bibtex;}\n",
    "hand": '@article{e19, author = "M. van der Esch and J. Smith", title = "Synthetic knee entry", year = 2019}\n',
}


@pytest.mark.parametrize("flavour", sorted(BIB_FLAVOURS))
def test_bibtex_flavours_resolve_particle_names(flavour):
    _data, refs, problems = parse_bib_text(BIB_FLAVOURS[flavour], "refs.bib")
    assert [p for p in problems if p.severity.value == "error"] == []
    resolver = Resolver(refs)
    for family in ("van der Esch", "Van der Esch", "Esch"):
        result = resolver.resolve(Cite(f"{family} & Smith", family, "2019", second="Smith"))
        assert result.status == "resolved", (flavour, family, result)


def test_numbered_reference_list():
    assert parse_numbered_entry("[3] Geneen LJ, Moore RA. Physical activity. 2017.") == (3, "Geneen LJ, Moore RA. Physical activity. 2017.")
    assert parse_numbered_entry("12. Lim J, et al. 2024.") == (12, "Lim J, et al. 2024.")
    assert parse_numbered_entry("Geneen 2017") is None
    refs = [ref("geneen2017", "Geneen", 2017, more=5), ref("lim2024", "Lim", 2024, more=2)]
    resolver = Resolver(refs, {1: "Geneen LJ, Moore RA, et al. Physical activity and exercise. 2017.", 2: "Lim J, Choi A, Kim B. 2024."})
    assert resolver.resolve_number(1).key == "geneen2017"
    assert resolver.resolve_number(2).key == "lim2024"
    assert resolver.resolve_number(3).status == "unresolved"
    assert "no numbered reference list" in Resolver(refs).resolve_number(1).note
