"""Citation markers in running text, and their resolution to BibTeX keys.

``find_markers(text)`` finds the markers of one sentence or paragraph:

* parenthetical author-year: ``(Geneen et al., 2017)``, ``(Geneen et al. 2017; Lim et al., 2024)``,
  ``(Seguin & Nelson, 2003)``, ``(Seguin and Nelson 2003)``, ``(Smith, 2019a, 2019b)``,
  ``(e.g., Smith, 2019, p. 5)`` and the seed article's ``(Geneen et al.; 2017; Lim et al.; 2024)``;
* narrative: ``Geneen et al. (2017) found``, ``Hayden and colleagues (2021)``,
  ``Seguin and Nelson (2003)``, ``Van der Esch et al. (2019, 2020)``;
* numeric: ``[1]``, ``[1-3]``, ``[2, 5]``, resolved through the article's numbered reference list.

``Resolver`` maps each citation to exactly one reference key by the first author's family name and
the year, or says why it cannot (ambiguous, not found); it never picks one of several candidates
without a stated rule. The rules, in order (docs/extract.md):

1. the reference's ``citedas`` field, when it records exactly how the article cites it (or the marker
   without the words before the first author's last name: "Also Syed-Abdul et al.");
2. the whole family name (particles, diacritics, hyphens and case ignored) and the year;
3. one word of a two-part or hyphenated family name, or the marker's name without leading words
   ("However Geneen" -> "Geneen"), and the year;
4. when no reference has the first name of a list as its first author, the list without it ("However,
   Smith and Jones" -> "Smith and Jones"), with a note for a reviewer to confirm.

Several candidates at one level are narrowed by the second author (``Seguin & Nelson``), by the
author count ("et al." means three or more), and by a year suffix: ``2019a`` picks the key ending in
``2019a`` or else, by APA's rule, the candidates ordered by title. What remains is reported as
ambiguous.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Mapping

from .bib import normalize_doi
from .model import Author, Reference

__all__ = ["Cite", "Marker", "Resolution", "Resolver", "fold", "find_markers", "parse_numbered_entry"]

_YEAR = r"(?<![\d/.-])((?:1[89]|20)\d\d)([a-z])?(?![\d/])|\b(n\.d\.|z\.j\.)"
_YEAR_RE = re.compile(_YEAR)
_PAREN_RE = re.compile(r"\(([^()]{1,400})\)")
_NUMERIC_RE = re.compile(r"\[(\d{1,4}(?:\s*[-–—]\s*\d{1,4})?(?:\s*[,;]\s*\d{1,4}(?:\s*[-–—]\s*\d{1,4})?)*)\](?!\()")
_PREFIX_RE = re.compile(
    r"^(?:(?:e\.\s?g\.|i\.\s?e\.|see also|see|cf\.|for example|for a review,? see|reviewed in|as reviewed by|among others|"
    r"zie ook|zie|bijv\.|bv\.|o\.a\.|vgl\.|onder andere)[,:]?\s+)+",
    re.IGNORECASE,
)
_ETAL_RE = re.compile(r"\s*(?:\bet\s+al\b\.?|\band\s+colleagues\b|\ben\s+collega[’']?s\b|\bet\s+coll\b\.?|\be\.a\.|\ben\s+anderen\b)", re.IGNORECASE)
_SPLIT_AUTHORS_RE = re.compile(r"\s*(?:,|&|\band\b|\ben\b)\s*")
PARTICLES = {
    "van", "de", "der", "den", "het", "'t", "ten", "ter", "te", "von", "vom", "zu", "zum", "le", "la", "les", "du", "des",
    "da", "das", "do", "dos", "di", "del", "della", "lo", "van't", "vant", "op", "in", "d", "l", "y", "e", "al", "el", "bin", "ibn",
}
_PARTICLE_ALT = r"(?:[Vv]an(?:\s+'t)?|[Dd]e[nrs]?|[Vv]on|[Tt]e[nr]?|[Ll][ae]s?|[Dd]u|[Dd]a|[Dd]os|[Dd]i|[Dd]el(?:la)?|[Oo]p|[Ii]n|[Hh]et)"
_NAME = r"(?:" + _PARTICLE_ALT + r"\s+){0,3}[A-ZÀ-ÞĀ-Ž][\w’'\-]*(?:\s+[A-ZÀ-ÞĀ-Ž][\w’'\-]*){0,2}"
_NARRATIVE_RE = re.compile(
    r"(?<![\w’'\-])(?P<authors>" + _NAME + r"(?:\s*,\s*" + _NAME + r")*(?:\s*,?\s+(?:&|and|en)\s+" + _NAME + r")?"
    r"(?:\s+(?:et\s+al\.?|and\s+colleagues|en\s+collega[’']?s|e\.a\.|en\s+anderen))?)(?:[’']s)?\s*$"
)
_SPECIAL = str.maketrans({"ø": "o", "Ø": "o", "ß": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ı": "i"})


def fold(text: str) -> str:
    """Lower-case ASCII letters only: "Syed-Abdul" -> "syedabdul", "Müller" -> "muller"."""
    text = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    return re.sub(r"[^a-z0-9]", "", "".join(c for c in text if not unicodedata.combining(c)).lower())


@dataclass(frozen=True)
class Cite:
    """One author-year citation as written."""

    authors: str  # as written, e.g. "Geneen et al." or "Seguin & Nelson"
    family: str  # first author's family name as written: "Geneen", "Van der Esch"
    year: str  # "2017", or "n.d."
    suffix: str = ""  # "a" in 2019a
    second: str = ""  # second author's family name when two are written
    et_al: bool = False

    @property
    def label(self) -> str:
        return f"{self.authors} {self.year}{self.suffix}".strip()


@dataclass(frozen=True)
class Marker:
    """A citation marker found in a text, with its offsets in that text."""

    start: int
    end: int
    raw: str
    kind: str  # "parenthetical", "narrative" or "numeric"
    cites: tuple[Cite, ...] = ()
    numbers: tuple[int, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """What one citation resolved to. ``status`` is resolved, ambiguous or unresolved."""

    label: str
    status: str
    keys: tuple[str, ...] = ()
    note: str = ""

    @property
    def key(self) -> str | None:
        return self.keys[0] if self.status == "resolved" else None


# --------------------------------------------------------------------------- finding markers


def _clean_authors(text: str) -> str:
    text = text.strip(" \t,;:")
    if ";" in text:
        text = text.rsplit(";", 1)[1].strip(" \t,;:")
    text = _PREFIX_RE.sub("", text).strip(" \t,;:")
    return text


def _looks_like_names(text: str) -> bool:
    if not text or len(text) > 150 or not re.search(r"[A-ZÀ-ÞĀ-Ž]", text):
        return False
    words = _ETAL_RE.sub(" ", text)
    words = [w for w in re.split(r"[\s,&]+", words) if w and w.lower() not in ("and", "en")]
    if not words or len(words) > 12:
        return False
    for word in words:
        if word.lower().strip(".") in PARTICLES or word.lower() in ("'t",):
            continue
        if not (word[0].isupper() or word[0] in "'’"):
            return False
        if not re.fullmatch(r"[\w’'.\-]+", word):
            return False
    return True


def parse_author_text(text: str, year: str, suffix: str = "") -> Cite:
    et_al = bool(_ETAL_RE.search(text))
    bare = _ETAL_RE.sub("", text).strip(" ,")
    names = [n.strip() for n in _SPLIT_AUTHORS_RE.split(bare) if n.strip()]
    family = names[0] if names else bare
    second = names[1] if len(names) > 1 else ""
    return Cite(authors=text.strip(), family=family, year=year, suffix=suffix, second=second, et_al=et_al or len(names) > 2)


def _year_items(content: str) -> list[tuple[str, str, str, int, int]]:
    """(author text before, year, suffix, start, end) for every year in a parenthetical."""
    items = []
    previous_end = 0
    for match in _YEAR_RE.finditer(content):
        year = match.group(1) or match.group(3)
        suffix = match.group(2) or ""
        items.append((content[previous_end:match.start()], year, suffix, match.start(), match.end()))
        previous_end = match.end()
        # "2019a, b": further suffix letters for the same year
        rest = content[previous_end:]
        while suffix:
            more = re.match(r"\s*,\s*([a-z])\b(?![.\w])", rest)
            if not more:
                break
            items.append(("", year, more.group(1), previous_end + more.start(1), previous_end + more.end()))
            previous_end += more.end()
            rest = content[previous_end:]
    return items


def find_markers(text: str) -> list[Marker]:
    """Every citation marker in ``text``, in order of position."""
    markers: list[Marker] = []
    for match in _PAREN_RE.finditer(text):
        marker = _parenthetical(text, match)
        if marker is not None:
            markers.append(marker)
    for match in _NUMERIC_RE.finditer(text):
        numbers: list[int] = []
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            if re.search(r"[-–—]", part):
                low, high = (int(x) for x in re.split(r"\s*[-–—]\s*", part))
                if low <= high and high - low <= 200:
                    numbers.extend(range(low, high + 1))
                    continue
            numbers.append(int(re.split(r"\s*[-–—]\s*", part)[0]))
        markers.append(Marker(match.start(), match.end(), match.group(0), "numeric", numbers=tuple(numbers)))
    return sorted(markers, key=lambda m: m.start)


def _parenthetical(text: str, match: re.Match) -> Marker | None:
    content = match.group(1)
    items = _year_items(content)
    if not items:
        return None
    cites: list[Cite] = []
    problems: list[str] = []
    narrative_start = None
    previous: Cite | None = None
    for before, year, suffix, _start, _end in items:
        authors = _clean_authors(before)
        if not authors:
            if previous is not None:
                cites.append(Cite(previous.authors, previous.family, year, suffix, previous.second, previous.et_al))
                continue
            # a year-only parenthetical: the authors are named in the running text before it
            found = _NARRATIVE_RE.search(text[: match.start()])
            if found is None:
                problems.append(f"no author name before {match.group(0)!r}")
                previous = None
                continue
            narrative_start = found.start("authors")
            previous = parse_author_text(found.group("authors"), year, suffix)
            cites.append(previous)
            continue
        if not _looks_like_names(authors):
            if not cites and previous is None:
                problems.append(f"cannot read {authors!r} as author names")
            continue
        previous = parse_author_text(authors, year, suffix)
        cites.append(previous)
    if not cites and not any(p.startswith("no author name") for p in problems):
        return None  # a parenthetical with a year that is not a citation, e.g. "(in 2019)"
    if narrative_start is not None:
        return Marker(narrative_start, match.end(), text[narrative_start:match.end()], "narrative", tuple(cites), problems=tuple(problems))
    kind = "narrative" if problems and not cites else "parenthetical"
    return Marker(match.start(), match.end(), match.group(0), kind, tuple(cites), problems=tuple(problems))


# --------------------------------------------------------------------------- numbered reference lists

_NUMBERED_RE = re.compile(r"^\s*(?:\[(\d{1,4})\]|(\d{1,4})[.)])\s+(.+)$")
_DOI_IN_TEXT_RE = re.compile(r"(?:doi\.org/|doi:\s*)?(10\.\d{4,9}/[^\s\"<>]+)", re.IGNORECASE)


def parse_numbered_entry(line: str) -> tuple[int, str] | None:
    """``"[3] Geneen LJ, ... 2017."`` or ``"3. Geneen ..."`` -> (3, text); other lines -> None."""
    match = _NUMBERED_RE.match(line)
    if not match:
        return None
    return int(match.group(1) or match.group(2)), match.group(3).strip()


# --------------------------------------------------------------------------- resolution


def _strip_particles(words: list[str]) -> list[str]:
    index = 0
    while index < len(words) - 1 and words[index].lower().strip(".") in PARTICLES:
        index += 1
    return words[index:]


def _author_forms(author: Author) -> tuple[set[str], set[str]]:
    """(strong forms, part forms) of a reference author's family name."""
    strong = {fold(author.full_family), fold(author.family)}
    words = _strip_particles(author.full_family.split())
    strong.add(fold(" ".join(words)))
    parts = {fold(p) for p in re.split(r"[\s\-]+", author.family) if fold(p) and p.lower() not in PARTICLES}
    return {s for s in strong if s}, parts


def _marker_forms(family: str) -> tuple[set[str], list[str]]:
    """(strong forms, weaker forms: the name without its leading words) of a name as written."""
    words = family.split()
    bare = _strip_particles(words)
    strong = {fold(family), fold(" ".join(bare))}
    weaker = [fold(" ".join(bare[i:])) for i in range(1, len(bare))]
    weaker += [fold(p) for p in re.split(r"-", bare[-1]) if "-" in bare[-1]] if bare else []
    return {s for s in strong if s}, [w for w in weaker if w]


class Resolver:
    """Resolve citations against a set of references (and a numbered list, if the article has one)."""

    def __init__(self, references: Iterable[Reference], numbered: Mapping[int, str] | None = None):
        self.references = {r.key: r for r in references}
        self.numbered_text = dict(numbered or {})
        self._numbered: dict[int, Resolution] = {}
        self._doi = {}
        #: each reference with a citedas field, and the forms it records (several split by "|"), folded
        self._cited_as = [(ref, {fold(c) for c in re.split(r"\s*\|\s*", ref.cited_as)}) for ref in self.references.values() if ref.cited_as]
        for ref in self.references.values():
            if ref.doi:
                self._doi.setdefault(normalize_doi(ref.doi), []).append(ref.key)

    # -- author-year
    def resolve(self, cite: Cite) -> Resolution:
        label = cite.label
        year_ok = [r for r in self.references.values() if str(r.year or "n.d.") == cite.year or (cite.year == "z.j." and not r.year)]
        # 1. citedas: the marker as written, else without the words before the first author's last name
        # ("Also Syed-Abdul et al. 2022" is "Syed-Abdul et al. 2022"), as step 2's weaker forms do
        by_citedas: list[Reference] = []
        words = cite.authors.split()
        for skip in range(len(cite.family.split())):
            wanted = fold(f"{' '.join(words[skip:])}{cite.year}{cite.suffix}")
            by_citedas = [r for r, forms in self._cited_as if wanted in forms]
            if by_citedas:
                break
        if len(by_citedas) == 1:
            note = "" if str(by_citedas[0].year) == cite.year else f"matched through the citedas field (the reference's year is {by_citedas[0].year})"
            return Resolution(label, "resolved", (by_citedas[0].key,), note)
        strong, weaker = _marker_forms(cite.family)
        levels = [
            [r for r in year_ok if r.authors and strong & _author_forms(r.authors[0])[0]],
            [r for r in year_ok if r.authors and (set(weaker) & _author_forms(r.authors[0])[0] or (strong | set(weaker)) & _author_forms(r.authors[0])[1])],
        ]
        for candidates in levels:
            if not candidates:
                continue
            return self._narrow(cite, candidates)
        rest = self._without_first_name(cite, strong | set(weaker))
        if rest is not None:
            found = self.resolve(rest)
            if found.status == "resolved":
                note = f"read as {rest.label!r}: {cite.family!r} names no first author in the bibliography"
                return Resolution(label, "resolved", found.keys, note + (f"; {found.note}" if found.note else ""))
            if found.status == "unresolved":  # name the author the marker most likely means, not the sentence's word
                rest_strong, rest_weaker = _marker_forms(rest.family)
                return Resolution(label, "unresolved", (), f"{self._near_miss(rest, rest_strong | set(rest_weaker))} "
                                                           f"(read as {rest.label!r}: {cite.family!r} names no first author either)")
        return Resolution(label, "unresolved", (), self._near_miss(cite, strong | set(weaker)))

    def _without_first_name(self, cite: Cite, forms: set[str]) -> Cite | None:
        """``cite`` without its first name when that may be a word of the sentence read as a name ("However, Smith
        and Jones (2020)": "However") and no reference has a first author of that name; else None. A resolution
        through it carries a note, for a reviewer to confirm (kb extract lists it under "resolved by a rule")."""
        if not cite.second or any(r.authors and forms & (_author_forms(r.authors[0])[0] | _author_forms(r.authors[0])[1])
                                  for r in self.references.values()):
            return None
        first, *rest = _SPLIT_AUTHORS_RE.split(cite.authors, maxsplit=1)  # as parse_author_text split the names
        return parse_author_text(rest[0], cite.year, cite.suffix) if rest and rest[0] and first.strip() == cite.family else None

    def _narrow(self, cite: Cite, candidates: list[Reference]) -> Resolution:
        label = cite.label
        if len(candidates) > 1 and cite.second:
            second, _ = _marker_forms(cite.second)
            narrowed = [r for r in candidates if len(r.authors) > 1 and second & (_author_forms(r.authors[1])[0] | _author_forms(r.authors[1])[1])]
            candidates = narrowed or candidates
        if len(candidates) > 1:
            if cite.et_al:
                narrowed = [r for r in candidates if len(r.authors) >= 3]
            elif cite.second:
                narrowed = [r for r in candidates if len(r.authors) == 2]
            else:
                narrowed = [r for r in candidates if len(r.authors) == 1]
            candidates = narrowed or candidates
        if len(candidates) > 1 and cite.suffix:
            by_key = [r for r in candidates if r.key.lower().endswith(f"{cite.year}{cite.suffix}")]
            if len(by_key) == 1:
                return Resolution(label, "resolved", (by_key[0].key,), "")
            ordered = sorted(candidates, key=lambda r: re.sub(r"^(?:the|a|an)\s+", "", r.title.lower()))
            index = ord(cite.suffix) - ord("a")
            if 0 <= index < len(ordered):
                return Resolution(label, "resolved", (ordered[index].key,),
                                  f"year suffix {cite.suffix!r} read by APA's rule: same first author and year ordered by title")
        if len(candidates) == 1:
            return Resolution(label, "resolved", (candidates[0].key,), "")
        keys = tuple(sorted(r.key for r in candidates))
        return Resolution(label, "ambiguous", keys, f"{len(keys)} references match: {', '.join(keys)}")

    def _near_miss(self, cite: Cite, forms: set[str]) -> str:
        same_name = [r for r in self.references.values() if r.authors and forms & (_author_forms(r.authors[0])[0] | _author_forms(r.authors[0])[1])]
        if same_name:
            found = ", ".join(f"{r.key} ({r.first_author} {r.year})" for r in same_name[:3])
            return f"no reference by {cite.family} in {cite.year}; same name, other year: {found}"
        names = {fold(r.first_author): r for r in self.references.values() if r.authors}
        close = difflib.get_close_matches(fold(cite.family), list(names), n=1, cutoff=0.75)
        if close:
            r = names[close[0]]
            return f"no reference by {cite.family} in {cite.year}; did you mean {r.key} ({r.first_author} {r.year})?"
        return f"no reference by {cite.family} in {cite.year} in the bibliography"

    # -- numeric
    def resolve_number(self, number: int) -> Resolution:
        label = f"[{number}]"
        if number in self._numbered:
            return self._numbered[number]
        text = self.numbered_text.get(number)
        if text is None:
            note = "the article has no numbered reference list" if not self.numbered_text else f"the reference list has no entry {number}"
            result = Resolution(label, "unresolved", (), note)
        else:
            result = self._resolve_entry_text(label, text)
        self._numbered[number] = result
        return result

    def _resolve_entry_text(self, label: str, text: str) -> Resolution:
        doi = _DOI_IN_TEXT_RE.search(text)
        if doi:
            keys = self._doi.get(normalize_doi(doi.group(1).rstrip(".,;)")), [])
            if len(keys) == 1:
                return Resolution(label, "resolved", (keys[0],), "")
        year = _YEAR_RE.search(text)
        family = re.split(r"[,.(]", text, maxsplit=1)[0].strip()
        # Vancouver "Geneen LJ": drop trailing initials
        family = re.sub(r"(?:\s+[A-Z]{1,4})$", "", family).strip()
        if not year or not family:
            return Resolution(label, "unresolved", (), f"cannot read author and year from reference entry {text[:60]!r}")
        cite = Cite(authors=family, family=family, year=year.group(1) or year.group(3), suffix=year.group(2) or "")
        result = self.resolve(cite)
        return Resolution(label, result.status, result.keys, result.note)
