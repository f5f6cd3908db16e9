"""Rule-based sentence segmentation for Dutch and English (no model, no download).

``split_sentences(text, lang)`` returns the sentences of one paragraph as ``Sentence`` records with
their character offsets, so callers can map a sentence back to a line of the source file.

A candidate boundary is ``.``, ``!``, ``?`` or an ellipsis, optionally followed by closing quotes or
brackets, then white space. It is a real boundary only when all of these hold (docs/extract.md):

1. it is not inside parentheses or square brackets (citation markers such as
   ``(Geneen et al.; 2017; Lim et al.; 2024)`` never split);
2. the next word starts like a sentence: an upper-case letter, a digit, an opening quote or
   bracket followed by one of those, or Dutch ``'s``/``'t``;
3. for a full stop, the word before it is not a known abbreviation of the language
   (``et al.``, ``e.g.``, ``i.e.``, ``vs.``, ``bijv.``, ``o.a.``, ``dr.``...), not a single
   letter (initials: ``J. Smith``), and not a dotted abbreviation such as ``m.a.w.``;
4. an ellipsis (``...`` or ``…``) ends a sentence only when the next word starts with an
   upper-case letter (rule 2), so "zo... maar" stays one sentence.

Decimals (``2.5``, ``2,5``) never split because no white space follows the separator.
pysbd was measured and not used: its Dutch rules split "Dr. Jansen zegt het." after "Dr." (0.3.4,
the last release, 2021).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ABBREVIATIONS", "Sentence", "split_sentences"]

_COMMON = {
    "etc", "ca", "cf", "vs", "fig", "figs", "tab", "no", "nr", "nrs", "vol", "p", "pp", "ed", "eds",
    "dr", "drs", "prof", "mr", "mrs", "ms", "st", "jr", "sr", "ir", "ing", "mevr", "dhr", "approx",
    "min", "max", "resp", "incl", "excl", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
    "oct", "okt", "nov", "dec", "suppl", "art", "ch", "sec", "eq",
}
#: Words that never end a sentence when followed by a full stop, per language (lower case, no dot).
ABBREVIATIONS = {
    "en": _COMMON | {"e.g", "i.e", "et al", "viz", "esp", "dept", "univ", "inc", "ltd", "co", "corp", "u.s", "u.k"},
    "nl": _COMMON | {
        "bijv", "bv", "b.v", "o.a", "m.a.w", "d.w.z", "z.g.a.n", "i.p.v", "t.o.v", "m.b.t", "a.d.h.v", "e.d", "e.a",
        "enz", "zgn", "evt", "ong", "mln", "mld", "blz", "afb", "hfst", "nl", "vgl", "jl", "a.s", "z.s.m", "t.a.v",
        "i.v.m", "n.a.v", "m.u.v", "v.d", "vnl", "gem", "mw", "dhr", "mevr", "pt", "pat", "drs", "et al",
    },
}

_CLOSERS = "\"'”’»)]"
_OPENERS = "\"'“‘«(["
_BOUNDARY_RE = re.compile(r"(\.\.\.|…|[.!?]+)([" + re.escape(_CLOSERS) + r"]*)(\s+)")
_WORD_BEFORE_RE = re.compile(r"([A-Za-zÀ-ÿ][A-Za-zÀ-ÿ.]*)$")


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int  # offset of the first character in the paragraph
    end: int  # offset just after the last character


def _starts_sentence(rest: str) -> bool:
    if rest.startswith(("'s ", "'t ", "’s ", "’t ")):
        return True
    rest = rest.lstrip(_OPENERS)
    if not rest:
        return False
    first = rest[0]
    return first.isupper() or first.isdigit()


def _depth(text: str, end: int) -> int:
    """Open ( and [ before offset ``end`` (never negative)."""
    depth = 0
    for ch in text[:end]:
        if ch in "([":
            depth += 1
        elif ch in ")]" and depth:
            depth -= 1
    return depth


def _is_abbreviation(before: str, lang: str) -> bool:
    """``before`` is the text up to (not including) the full stop."""
    abbreviations = ABBREVIATIONS["nl"] | ABBREVIATIONS["en"] if lang == "nl" else ABBREVIATIONS["en"]
    match = _WORD_BEFORE_RE.search(before)
    if not match:
        return False
    word = match.group(1).lower()
    if re.search(r"\bet al$", before.lower()):
        return True
    if len(word) == 1 and word.isalpha():
        return True  # an initial: "J. Smith"
    if word in abbreviations:
        return True
    # dotted abbreviations not in the list, such as "m.a.w" or "z.g.a.n": single letters joined by dots
    return bool(re.fullmatch(r"(?:[a-zà-ÿ]\.)+[a-zà-ÿ]", word))


def split_sentences(text: str, lang: str = "en") -> list[Sentence]:
    """Split one paragraph into sentences; white space between sentences is dropped."""
    sentences: list[Sentence] = []
    start = 0
    for match in _BOUNDARY_RE.finditer(text):
        end = match.end(2)
        rest = text[match.end():]
        punct = match.group(1)
        if not _starts_sentence(rest):
            continue
        if _depth(text, end) > 0:
            continue
        if punct == "." and _is_abbreviation(text[start:match.start()], lang):
            continue
        _add(sentences, text, start, end)
        start = match.end()
    _add(sentences, text, start, len(text))
    return sentences


def _add(sentences: list[Sentence], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    offset = start + (len(piece) - len(piece.lstrip()))
    sentences.append(Sentence(stripped, offset, offset + len(stripped)))
