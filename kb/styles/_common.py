"""Building blocks shared by kb's pybtex styles: name lists, initials, sentence case, page ranges.

Everything here is a pybtex template node (``@node``) or a plain helper used by one, so the
styles themselves read as pybtex templates (see ``vancouver.py`` and ``apa.py``).
"""

from __future__ import annotations

import re
from functools import lru_cache, wraps
from typing import Callable

from pybtex.richtext import Protected, String, Text
from pybtex.style.template import FieldIsMissing, _format_list, node

__all__ = ["per_name", "elide_pages", "en_dash_pages", "family_name", "format_any_type", "given_initials", "if_field", "lineage", "name_list", "nonempty", "sentence_case"]

_TOKEN_SPLIT = re.compile(r"[\s.~]+")


def per_name(formatter: Callable) -> Callable:
    """``formatter(person)``, computed once per distinct name (all its parts) and then reused: the
    same authors come back entry after entry, and pybtex's rich text is never changed in place."""
    cache: dict = {}

    @wraps(formatter)
    def formatted(person):
        parts = (tuple(person.first_names), tuple(person.middle_names), tuple(person.prelast_names), tuple(person.last_names),
                 tuple(person.lineage_names))
        result = cache.get(parts)
        if result is None:
            if len(cache) >= _NAMES_KEPT:
                cache.clear()
            result = cache[parts] = formatter(person)
        return result

    formatted.cache_clear = cache.clear
    return formatted


#: Distinct names ``per_name`` keeps per formatter.
_NAMES_KEPT = 1 << 14


def given_initials(person) -> list[list[str]]:
    """The initials of a person's given names, one list per name, one letter per hyphen part.

    ``Louise J.`` -> [["L"], ["J"]]; ``Jean-Pierre`` -> [["J", "P"]]; ``{\\'E}mile`` -> [["É"]].
    """
    given = " ".join(str(t) for t in person.rich_first_names + person.rich_middle_names)
    out = []
    for token in _TOKEN_SPLIT.split(given):
        parts = [p for p in token.split("-") if p]
        letters = [next((ch for ch in p if ch.isalpha()), "") for p in parts]
        letters = [l.upper() for l in letters if l]
        if letters:
            out.append(letters)
    return out


def family_name(person) -> Text:
    """Particles and family name as rich text: ``van der Esch``, ``Khodadad Kashi``."""
    parts = list(person.rich_prelast_names) + list(person.rich_last_names)
    return Text(" ").join(parts) if parts else Text()


def lineage(person) -> str:
    return " ".join(str(t) for t in person.rich_lineage_names)


def elide_pages(text: Text) -> Text:
    """NLM page ranges: ``141--149`` -> ``141-9``, ``2019--2052`` -> ``2019-52``; ``CD011279`` unchanged."""
    value = str(text)
    match = re.fullmatch(r"\s*(\w*?)(\d+)\s*(?:-+|\u2013|\u2014)\s*(\w*?)(\d+)\s*", value)
    if not match:
        return text
    prefix, first, prefix2, last = match.groups()
    if prefix2 and prefix2 != prefix:
        return Text(f"{prefix}{first}-{prefix2}{last}")
    if len(last) == len(first) and int(last) > int(first):
        common = 0
        while common < len(first) - 1 and first[common] == last[common]:
            common += 1
        last = last[common:]
    return Text(f"{prefix}{first}-{last}")


def en_dash_pages(text: Text) -> Text:
    """``871--877`` -> ``871–877`` (a literal en dash, so Markdown output stays readable)."""
    value = str(text)
    if re.fullmatch(r"\s*\w+\s*(?:-+|\u2013|\u2014)\s*\w+\s*", value):
        return Text(re.sub(r"\s*(?:-+|\u2013|\u2014)\s*", "\u2013", value.strip()))
    return text


_WORD = re.compile(r"\S+")


@lru_cache(maxsize=1 << 14)
def _case_word(word: str, capitalise: bool) -> str:
    letters = [ch for ch in word if ch.isalpha()]
    if not letters:
        return word
    # Acronyms (RCT, COVID-19) and words with an inner capital (mRNA, McDonald) keep their case.
    if len(letters) > 1 and all(ch.isupper() for ch in letters):
        return word
    if any(ch.isupper() for ch in letters[1:]) and not word.istitle() and "-" not in word:
        return word
    lowered = word.lower()
    if capitalise:
        index = next(i for i, ch in enumerate(lowered) if ch.isalpha())
        lowered = lowered[:index] + lowered[index].upper() + lowered[index + 1:]
    return lowered


def sentence_case(text: Text, *, after_colon: bool = True) -> Text:
    """Sentence case as in APA and NLM titles, the BibTeX way: braced (protected) text is kept.

    The first word is capitalised (and, with ``after_colon``, the first word after a colon);
    acronyms in capitals are kept; every other word is lower-cased.
    """
    state = {"cap": True}

    def walk(part):
        if isinstance(part, Protected):
            if str(part).strip():
                state["cap"] = False
            return part
        if isinstance(part, String):
            value = part.value

            def repl(match):
                word = match.group(0)
                out = _case_word(word, state["cap"])
                if any(ch.isalpha() for ch in word):
                    state["cap"] = False
                if word[-1] in ".?!" or (after_colon and word[-1] == ":"):
                    state["cap"] = True
                return out

            return String(_WORD.sub(repl, value))
        if hasattr(part, "parts"):
            return part._create_similar([walk(p) for p in part.parts])
        return part

    return walk(text)


@node
def name_list(children, context, role, formatter, max_names=None, shown_when_truncated=None, sep=", ",
              last_sep=None, et_al=", et al.", ellipsis_last=False, sep2=None):
    """Format the persons in ``role`` with ``formatter(person) -> Text``.

    More than ``max_names`` persons: show ``shown_when_truncated`` of them, then ``et_al`` (Vancouver),
    or with ``ellipsis_last`` the first ones, ``. . .`` and the last one (APA 7). Two persons are
    joined with ``sep2`` if given, else like more than two (``last_sep``).
    """
    if children:
        raise ValueError(children)
    persons = context["entry"].persons.get(role)
    if not persons:
        raise FieldIsMissing(role, context["entry"])
    formatted = [formatter(p) for p in persons]
    if max_names is not None and len(formatted) > max_names:
        shown = shown_when_truncated or max_names
        if ellipsis_last:
            return Text(Text(sep).join(formatted[:shown]), ", . . . ", formatted[-1])
        return Text(Text(sep).join(formatted[:shown]), et_al)
    if len(formatted) == 2 and sep2 is not None:
        return Text(sep2).join(formatted)
    if last_sep is None or len(formatted) == 1:
        return Text(sep).join(formatted)
    return Text(Text(sep).join(formatted[:-1]), last_sep, formatted[-1])


@node
def if_field(children, context, name):
    """The children if the entry has field ``name``, else nothing: ``if_field("url")["[Internet]"]``."""
    entry = context["entry"]
    if name in entry.fields or name in entry.persons:
        return Text(*_format_list(children, context))
    return Text()


def format_any_type(style, label, entry, bib_data=None):
    """``BaseStyle.format_entry``, except that an entry type the style has no template for is
    formatted with its misc template instead of raising AttributeError.

    kb's templates are built once per style and entry type, not once per entry, so a
    ``get_<type>_template(e)`` must not look at ``e`` (it is given None): anything that depends on
    the entry is a node, which reads it from the context when the template is formatted.
    """
    from pybtex.style import FormattedEntry

    entry_type = entry.type.lower()
    templates = style.__dict__.setdefault("_kb_templates", {})
    template = templates.get(entry_type)
    if template is None:
        template = templates[entry_type] = (getattr(style, f"get_{entry_type}_template", None) or style.get_misc_template)(None)
    context = {"entry": entry, "style": style, "bib_data": bib_data}
    return FormattedEntry(entry.key, template.format_data(context), label)


@node
def nonempty(children, context, name):
    """The children, or FieldIsMissing(name) when they come out empty, so that an enclosing
    ``optional[";", nonempty("volume")[...]]`` drops its punctuation too."""
    text = Text(*_format_list(children, context))
    if not text:
        raise FieldIsMissing(name, context["entry"])
    return text
