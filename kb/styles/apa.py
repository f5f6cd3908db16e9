"""APA 7th edition references as a pybtex formatting style (with an author-date label style).

    Geneen, L. J., Moore, R. A., Clarke, C., Martin, D., Colvin, L. A., & Smith, B. H. (2017).
    Physical activity and exercise for chronic pain in adults: An overview of Cochrane reviews.
    *Cochrane Database of Systematic Reviews*, (4), Article CD011279.
    https://doi.org/10.1002/14651858.cd011279.pub3

Rules followed: ``Family, I. I.`` with particles kept ("van der Esch, M."), hyphenated given names as
"J.-P."; up to 20 authors joined with ", &" before the last; 21 or more: the first 19, ". . .", the
last. ``(Year)`` or ``(n.d.)``. Article titles in sentence case (braced words and acronyms kept, a
capital after a colon); journal and volume in italics; ``Volume(Issue), pages`` with an en dash, or
``Article <eid>``; the DOI as an https://doi.org/ link, else the URL. Sorted by author, year, title;
labels are author-date ("Geneen et al., 2017", with a/b suffixes when they would repeat).
"""

from __future__ import annotations

from collections import Counter

from pybtex.richtext import Text
from pybtex.style.formatting import BaseStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.names.plain import NameStyle as PlainNameStyle
from pybtex.style.sorting.author_year_title import SortingStyle as AuthorYearTitleSortingStyle
from pybtex.style.template import field, first_of, href, join, node, optional, optional_field, sentence, tag, words

from ._common import per_name, en_dash_pages, family_name, format_any_type, given_initials, lineage, name_list, sentence_case

__all__ = ["ApaLabelStyle", "ApaStyle", "format_person", "in_text_names"]


@per_name
def format_person(person) -> Text:
    """``van der Esch, Martin`` -> ``van der Esch, M.``; ``Jean-Pierre`` -> ``J.-P.``; lineage after a comma."""
    initials = " ".join("-".join(f"{letter}." for letter in group) for group in given_initials(person))
    parts = [family_name(person)]
    if initials:
        parts.append(Text(initials))
    if lineage(person):
        parts.append(Text(lineage(person)))
    return Text(", ").join(parts)


def _authors(role="author"):
    return name_list(role=role, formatter=format_person, max_names=20, shown_when_truncated=19, sep=", ", last_sep=", & ", ellipsis_last=True)


@per_name
def _editor_name(person) -> Text:
    """Editors in running text: ``M. van der Esch``."""
    initials = " ".join("-".join(f"{letter}." for letter in group) for group in given_initials(person))
    return Text(" ").join([p for p in (Text(initials) if initials else None, family_name(person)) if p is not None])


_year = first_of[optional[join["(", field("year"), ")"]], "(n.d.)"]
_article_title = field("title", apply_func=sentence_case)
_doi = href(join["https://doi.org/", field("doi", raw=True)])[join["https://doi.org/", field("doi", raw=True)]]
_url = href(field("url", raw=True))[field("url", raw=True)]


@node
def _eds_label(children, context):
    """"(Ed.)" for one editor, else "(Eds.)"."""
    return Text("(Ed.)" if len(context["entry"].persons.get("editor", ())) == 1 else "(Eds.)")


def in_text_names(persons) -> str:
    """The author part of an APA in-text citation: "Geneen et al.", "Seguin & Nelson", "Hunter"."""
    names = [str(family_name(p)) for p in persons]
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} & {names[1]}"
    return f"{names[0]} et al."


class ApaLabelStyle(BaseLabelStyle):
    """Author-date labels for in-text citations: "Geneen et al., 2017", "Lim et al., 2024a"."""

    def format_labels(self, sorted_entries):
        bases = []
        for entry in sorted_entries:
            persons = entry.persons.get("author") or entry.persons.get("editor") or []
            who = in_text_names(persons) or str(Text.from_latex(entry.fields.get("title", entry.key)))
            bases.append((who, entry.fields.get("year", "n.d.")))
        counts = Counter(bases)
        seen: Counter = Counter()
        for who, year in bases:
            suffix = ""
            if counts[(who, year)] > 1:
                suffix = "abcdefghijklmnopqrstuvwxyz"[seen[(who, year)] % 26]
                seen[(who, year)] += 1
            yield f"{who}, {year}{suffix}"


class ApaStyle(BaseStyle):
    """APA 7 reference list entries; author-date labels."""

    # classes, not names (pybtex's "author_year_title" and "plain", kb's "apa"): see kb/styles/vancouver.py
    default_sorting_style = AuthorYearTitleSortingStyle
    default_label_style = ApaLabelStyle
    default_name_style = PlainNameStyle
    in_text = "author-year"

    def format_entry(self, label, entry, bib_data=None):
        return format_any_type(self, label, entry, bib_data)

    def _web(self):
        return first_of[optional[_doi], optional[_url]]

    def _start(self, title):
        """``Authors. (Year). Title.``; with no author the title moves to the front: ``Title. (Year).``"""
        return first_of[
            optional[words[sentence[_authors()], sentence[_year], sentence[title]]],
            optional[words[sentence[_authors("editor"), optional[self._eds(e=None)]], sentence[_year], sentence[title]]],
            words[sentence[title], sentence[_year]],
        ]

    def _eds(self, e):
        return join["(", "Eds.", ")"]

    def _publisher(self):
        return first_of[optional_field("publisher"), optional_field("institution"), optional_field("organization"), optional_field("school")]

    def get_article_template(self, e):
        volume_issue = join[optional[tag("em")[field("volume")]], optional["(", field("number"), ")"]]
        pages = first_of[optional[field("pages", apply_func=en_dash_pages)], optional[join["Article ", field("eid")]]]
        source = sentence[tag("em")[field("journal")], optional[volume_issue], optional[pages]]
        return words[self._start(_article_title), source, self._web()]

    def get_book_template(self, e):
        title = join(sep=" ")[tag("em")[_article_title], optional["(", field("edition"), " ed.)"]]
        return words[self._start(title), optional[sentence[self._publisher()]], self._web()]

    def get_incollection_template(self, e):
        editors = optional[join(sep=" ")[
            name_list(role="editor", formatter=_editor_name, max_names=20, sep=", ", sep2=" & ", last_sep=", & "),
            _eds_label,
        ], ", "]
        book = join(sep=" ")[tag("em")[field("booktitle", apply_func=sentence_case)], optional["(pp. ", field("pages", apply_func=en_dash_pages), ")"]]
        return words[self._start(_article_title), sentence[join["In ", editors, book]], optional[sentence[self._publisher()]], self._web()]

    get_inbook_template = get_incollection_template
    get_inproceedings_template = get_incollection_template
    get_conference_template = get_incollection_template

    def get_misc_template(self, e):
        title = tag("em")[_article_title]
        where = first_of[self._publisher(), optional_field("howpublished")]
        return words[self._start(title), optional[sentence[where]], self._web()]

    get_online_template = get_misc_template
    get_electronic_template = get_misc_template
    get_www_template = get_misc_template
    get_webpage_template = get_misc_template
    get_unpublished_template = get_misc_template

    def get_techreport_template(self, e):
        title = join(sep=" ")[tag("em")[_article_title], optional["(Report No. ", field("number"), ")"]]
        return words[self._start(title), optional[sentence[self._publisher()]], self._web()]

    get_report_template = get_techreport_template

    def get_phdthesis_template(self, e):
        title = join(sep=" ")[tag("em")[_article_title], join["[Doctoral dissertation", optional[", ", field("school")], "]"]]
        return words[self._start(title), self._web()]

    def get_mastersthesis_template(self, e):
        title = join(sep=" ")[tag("em")[_article_title], join["[Master's thesis", optional[", ", field("school")], "]"]]
        return words[self._start(title), self._web()]
