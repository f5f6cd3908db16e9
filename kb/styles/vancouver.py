"""Vancouver (ICMJE / NLM *Citing Medicine*) as a pybtex formatting style.

    Geneen LJ, Moore RA, Clarke C, Martin D, Colvin LA, Smith BH. Physical activity and exercise for
    chronic pain in adults: an overview of Cochrane reviews. Cochrane Database Syst Rev.
    2017;(4):CD011279. doi:10.1002/14651858.cd011279.pub3

Rules followed: family name (with its particles, "van der Esch M") and initials without stops;
up to six authors, more are cut to six and "et al."; titles in sentence case (braced words kept);
the journal's abbreviation from the ``shortjournal`` (BibLaTeX) or ``journalabbrev`` field, else the
full title; ``Year;Volume(Issue):Pages`` with elided page ranges (141-9); an article number (``eid``)
stands in for pages; ``doi:`` at the end, or ``Available from: URL`` when there is no DOI.
Entries are numbered in order of first citation (pybtex's "none" sorting, "number" labels).
"""

from __future__ import annotations

from pybtex.richtext import Text
from pybtex.style.formatting import BaseStyle
from pybtex.style.labels.number import LabelStyle as NumberLabelStyle
from pybtex.style.names.plain import NameStyle as PlainNameStyle
from pybtex.style.sorting.none import SortingStyle as NoSortingStyle
from pybtex.style.template import field, first_of, href, join, node, optional, optional_field, sentence, words

from ._common import per_name, elide_pages, format_any_type, if_field, nonempty, family_name, given_initials, lineage, name_list, sentence_case

__all__ = ["VancouverStyle", "format_person"]


@per_name
def format_person(person) -> Text:
    """``van der Esch, Martin`` -> ``van der Esch M``; ``Smith, Jr, John Adam`` -> ``Smith JA Jr``."""
    initials = "".join("".join(group) for group in given_initials(person))
    parts = [family_name(person)]
    if initials:
        parts.append(Text(initials))
    if lineage(person):
        parts.append(Text(lineage(person)))
    return Text(" ").join(parts)


def _authors(role="author"):
    return name_list(role=role, formatter=format_person, max_names=6, shown_when_truncated=6, et_al=", et al.")


_title = field("title", apply_func=lambda t: sentence_case(t, after_colon=False))
_pages = first_of[optional[field("pages", apply_func=elide_pages)], optional_field("eid")]
_doi = href(join["https://doi.org/", field("doi", raw=True)])[join["doi:", field("doi", raw=True)]]
_url = join["Available from: ", href(field("url", raw=True))[field("url", raw=True)]]


@node
def _editors_word(children, context):
    """"editor" after one editor, "editors" after several (NLM/ICMJE)."""
    return Text("editor" if len(context["entry"].persons.get("editor", ())) == 1 else "editors")


class VancouverStyle(BaseStyle):
    """ICMJE/NLM (Vancouver) references; numbered in order of citation."""

    # pybtex's "none", "number" and "plain", as classes: by name, pybtex would find each by reading the
    # entry points of every installed package (13-20 ms a look-up on a 2-core machine)
    default_sorting_style = NoSortingStyle
    default_label_style = NumberLabelStyle
    default_name_style = PlainNameStyle
    #: How handouts cite in the text: "numeric" ([1]) or "author-year" ((Geneen et al., 2017)).
    in_text = "numeric"

    def format_entry(self, label, entry, bib_data=None):
        return format_any_type(self, label, entry, bib_data)

    # -- pieces ---------------------------------------------------------------------------
    def _web(self):
        return first_of[optional[_doi], optional[_url]]

    def _start(self):
        """Authors. Title. (or the title alone when there are no authors)."""
        return first_of[
            optional[join(sep=" ")[sentence(add_period=True)[_authors()], sentence[_title]]],
            sentence[_title],
        ]

    def _publication(self):
        """Place: Publisher; Year."""
        place_publisher = join(sep=": ")[optional_field("address"), first_of[optional_field("publisher"), optional_field("institution"),
                                                                             optional_field("school"), optional_field("organization")]]
        return sentence[join(sep="; ")[optional[place_publisher], field("year")]]

    # -- entry types ----------------------------------------------------------------------
    def get_article_template(self, e):
        journal = first_of[optional_field("shortjournal"), optional_field("journalabbrev"), field("journal")]
        volume_issue = nonempty("volume")[optional_field("volume"), optional["(", field("number"), ")"]]
        locator = join[field("year"), optional[";", volume_issue], optional[":", nonempty("pages")[_pages]]]
        return words[self._start(), sentence[journal], sentence[locator], self._web()]

    def get_book_template(self, e):
        start = first_of[
            optional[join(sep=" ")[sentence[_authors()], sentence[_title]]],
            optional[join(sep=" ")[sentence[_authors("editor"), _editors_word], sentence[_title]]],
            sentence[_title],
        ]
        return words[start, optional[sentence(sep=" ")[field("edition"), "ed"]], self._publication(), self._web()]

    def get_incollection_template(self, e):
        editors = optional[join(sep=", ")[_authors("editor"), _editors_word], ". "]
        book = join["In: ", editors, sentence(add_period=False)[field("booktitle", apply_func=lambda t: sentence_case(t, after_colon=False))]]
        return words[self._start(), sentence[book], self._publication(), optional[sentence[join["p. ", field("pages", apply_func=elide_pages)]]],
                     self._web()]

    get_inbook_template = get_incollection_template
    get_inproceedings_template = get_incollection_template
    get_conference_template = get_incollection_template

    def get_misc_template(self, e):
        title = join(sep=" ")[field("title", apply_func=lambda t: sentence_case(t, after_colon=False)), if_field("url")["[Internet]"]]
        start = first_of[optional[join(sep=" ")[sentence[_authors()], sentence[title]]], sentence[title]]
        where = first_of[optional_field("publisher"), optional_field("organization"), optional_field("institution"), optional_field("howpublished")]
        date = join[field("year"), optional[" [cited ", field("urldate"), "]"]]
        return words[start, sentence[join(sep="; ")[optional[where], date]], self._web()]

    get_online_template = get_misc_template
    get_electronic_template = get_misc_template
    get_www_template = get_misc_template
    get_webpage_template = get_misc_template
    get_unpublished_template = get_misc_template

    def get_techreport_template(self, e):
        return words[self._start(), self._publication(), optional[sentence[join["Report No.: ", field("number")]]], self._web()]

    get_report_template = get_techreport_template

    def get_phdthesis_template(self, e):
        start = first_of[optional[join(sep=" ")[sentence[_authors()], sentence[join(sep=" ")[field("title"), "[dissertation]"]]]]]
        return words[start, self._publication(), self._web()]

    def get_mastersthesis_template(self, e):
        start = first_of[optional[join(sep=" ")[sentence[_authors()], sentence[join(sep=" ")[field("title"), "[master's thesis]"]]]]]
        return words[start, self._publication(), self._web()]
