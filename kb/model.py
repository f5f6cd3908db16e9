"""The plain, frozen records that every stage passes on.

``load`` builds them, ``validate`` reads them, ``graph`` and ``render`` consume them. No stage
mutates its input. Mappings inside records are ordinary dicts sorted by key; treat them as read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import Diagnostic, Location

__all__ = [
    "Article",
    "Author",
    "Claim",
    "Config",
    "Evidence",
    "KnowledgeBase",
    "Location",
    "Reference",
    "Section",
    "Text",
]

KINDS = ("empirical-finding", "mechanism", "practice-advice", "summary")
RELATIONS = ("supports", "partially-supports", "disputes", "mentions")
CERTAINTIES = ("high", "moderate", "low", "very-low", "not-graded")
VERDICTS = ("supported", "overstated", "source-misdescribed", "unsupported", "uncited")
#: Languages kb has interface words for (data/i18n/<lang>.yaml): --lang of build, render and audit.
UI_LANGUAGES = ("nl", "en")
STATUSES = ("draft", "reviewed")
#: Relations that count as support when asking "does this claim still stand?".
SUPPORTING = frozenset({"supports", "partially-supports"})
#: How strongly a relation backs a claim (higher = stronger); used to break ties between links of equal certainty.
RELATION_STRENGTH = {"supports": 3, "partially-supports": 2, "mentions": 1, "disputes": 0}
#: GRADE certainty, strongest first = highest rank. "not-graded" ranks lowest: it gives the reader
#: no assurance at all about the body of evidence.
CERTAINTY_RANK = {certainty: len(CERTAINTIES) - 1 - n for n, certainty in enumerate(CERTAINTIES)}
#: Certainties that count as limited evidence (a handout hedges claims resting on them).
LOW_CERTAINTIES = frozenset({"low", "very-low"})


@dataclass(frozen=True)
class Text:
    """A text in the article's language (nl) and in English (en)."""

    nl: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.nl


@dataclass(frozen=True)
class Evidence:
    """One link from a claim to a source."""

    ref: str
    relation: str
    cited_in_article: bool
    certainty: str
    locator: str = ""
    found: str = ""
    quote: str = ""
    location: Location = Location("")


@dataclass(frozen=True)
class Claim:
    id: str
    article: str
    section: str
    kind: str
    text: Text
    evidence: tuple[Evidence, ...]
    verdict: str
    status: str
    derived_from: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    plain: Text | None = None
    verdict_reason: str = ""
    reviewer: str = ""
    reviewed_on: str = ""
    notes: str = ""
    location: Location = Location("")
    #: Location of each field, keyed by path such as ("evidence", 0, "ref").
    positions: Mapping[tuple, Location] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def where(self, *path: Any) -> Location:
        """The location of a field, or of its nearest enclosing field, or of the claim."""
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.location

    def plain_text(self, lang: str) -> str:
        """Patient-friendly wording if given, else the claim text."""
        if self.plain is not None and getattr(self.plain, lang, ""):
            return getattr(self.plain, lang)
        return self.text.get(lang)


@dataclass(frozen=True)
class Author:
    family: str
    given: str = ""
    prefix: str = ""  # particles such as "van der"
    suffix: str = ""

    @property
    def full_family(self) -> str:
        return f"{self.prefix} {self.family}".strip()

    def __str__(self) -> str:
        return f"{self.full_family}, {self.given}".strip(", ")


@dataclass(frozen=True)
class Reference:
    """One BibTeX entry, with LaTeX converted to Unicode and our own fields interpreted."""

    key: str
    entry_type: str
    title: str
    authors: tuple[Author, ...]
    year: int | None
    journal: str = ""
    volume: str = ""
    number: str = ""
    pages: str = ""
    doi: str = ""
    pmid: str = ""
    pmcid: str = ""
    url: str = ""
    study_type: str = ""
    verified: bool = False
    verification: str = ""
    cited_as: str = ""
    discrepancy: str = ""
    conclusion: str = ""
    certainty: str = ""
    #: "retracted", "expression-of-concern", "correction" or "" (field ``retraction``; set by kb retractions).
    retraction: str = ""
    #: The notice behind ``retraction``: DOI, URL or Retraction Watch record id (field ``retractionnotice``).
    retraction_notice: str = ""
    #: Every field as Unicode text, including the ones above.
    fields: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)
    location: Location = Location("")

    @property
    def first_author(self) -> str:
        return self.authors[0].full_family if self.authors else ""

    @property
    def short(self) -> str:
        """A short in-text label such as "Geneen et al. 2017"."""
        names = [a.full_family for a in self.authors]
        if len(names) > 2:
            who = f"{names[0]} et al."
        elif len(names) == 2:
            who = f"{names[0]} & {names[1]}"
        else:
            who = names[0] if names else self.key
        return f"{who} {self.year or 'n.d.'}"


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    level: int
    line: int
    paragraphs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    language: str
    sections: tuple[Section, ...]
    publisher: str = ""
    url: str = ""
    published: str = ""
    author: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)
    location: Location = Location("")

    @property
    def body(self) -> str:
        """All paragraph text, one paragraph a line, for anchoring claim text."""
        return "\n".join(p for s in self.sections for p in s.paragraphs)

    def section(self, section_id: str) -> Section | None:
        return next((s for s in self.sections if s.id == section_id), None)


@dataclass(frozen=True)
class Config:
    """Settings from kb.yaml, with defaults."""

    title: str = "Knowledge base"
    description: str = ""
    languages: tuple[str, ...] = ("en",)
    style: str = "vancouver"
    old_source_years: int = 15
    #: The language tag of what reviewers write (verdict reasons, notes, found, locators; a reference's conclusion
    #: and discrepancy), or "" when not declared (kb.yaml review_language).
    review_language: str = ""

    @property
    def language(self) -> str:
        return self.languages[0]


@dataclass(frozen=True)
class KnowledgeBase:
    root: str
    config: Config
    claims: Mapping[str, Claim]
    references: Mapping[str, Reference]
    articles: Mapping[str, Article]
    #: pybtex BibliographyData of all references/*.bib, for citation formatting.
    bibliography: Any = field(compare=False, hash=False, repr=False, default=None)
    #: Problems found while reading files (syntax, schema); validate() adds the cross-file ones.
    diagnostics: tuple[Diagnostic, ...] = ()

    def claims_by_article(self) -> dict[str, list[Claim]]:
        """Article id -> its claims, in the order of ``claims``; every article has an entry (maybe
        empty), and so does an article id that claims name but no article file has."""
        grouped: dict[str, list[Claim]] = {article_id: [] for article_id in self.articles}
        for claim in self.claims.values():
            grouped.setdefault(claim.article, []).append(claim)
        return grouped

    def citing_claims(self) -> dict[str, list[str]]:
        """Reference key -> the ids of the claims whose evidence links to it (each once, in the order
        of ``claims``); every reference has an entry (maybe empty), and so does a key that evidence
        names but no reference has."""
        citing: dict[str, list[str]] = {key: [] for key in self.references}
        for claim in self.claims.values():
            for key in dict.fromkeys(ev.ref for ev in claim.evidence):
                citing.setdefault(key, []).append(claim.id)
        return citing
