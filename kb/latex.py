r"""LaTeX in BibTeX fields, read once for every use: rich text for citations (kb.cite), plain
text for everything else (``latex_to_text``: kb.bib's titles, names and journals, the reference
pages, ``kb check``'s ``bib-latex`` warning). Both use ``parse_latex``, so they know the same
commands and give each the same meaning; docs/handouts.md lists them.

pybtex decodes accents and special characters (latexcodec) and makes each braced group a Protected
part, but knows no command: ``\emph{in vivo}`` came out as "\emph in vivo". ``_LaTeXMarkup`` reads
the markup (``\emph{x}``, ``{\em x}``, ``\textbf``, ``\textsuperscript``, ``\url``, ``$x^2$``...)
into pybtex rich text with kb's tag names, which kb.cite's backends and ``TextBackend`` here render.

This module is light: pybtex's rich text, markup parser and plain text backend, none of its
formatting styles, so that ``kb check`` (kb.bib) can use it without kb.cite.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pybtex.backends.plaintext import Backend as _PybtexText
from pybtex.markup import LaTeXParser
from pybtex.richtext import HRef, Protected, String, Tag, Text

__all__ = ["latex_to_text", "parse_latex", "TextBackend"]


_PYBTEX_FROM_LATEX = Text.__dict__["from_latex"]
#: Text that pybtex's LaTeX decoder (latexcodec) could change, besides an en dash (``--``):
#: commands, maths, comments, ties, ligatures (--- `` '' ,, !` ?`), control characters and white
#: space it would collapse.
_DECODER_WORK = re.compile(r"[\\$%~`\x00-\x1f\x7f]|---|,,|''|\s\s|^\s")


@lru_cache(maxsize=1 << 15)
def parse_latex(latex: str) -> Text:
    r"""``Text.from_latex(latex)``, memoised (pybtex's rich text is never changed in place), and
    without the decoder when all it would do is turn ``--`` into an en dash (page ranges)
    (tests/test_cite.py checks that both ways give the same rich text). Text with LaTeX markup
    (``_MARKUP``: ``\emph{x}``, ``{\em x}``, ``$x^2$``...) is read by ``_LaTeXMarkup`` instead, which
    gives pybtex's own result for everything but the markup."""
    if _DECODER_WORK.search(latex):
        if _MARKUP.search(latex):
            try:
                return _LaTeXMarkup(latex).parse()
            except Exception:  # unbalanced braces: pybtex's own result (its error), as before
                pass
        return _PYBTEX_FROM_LATEX.__func__(Text, latex)
    return LaTeXParser(latex.replace("--", "\u2013")).parse()


def _plain_latex(latex: str) -> Text:
    """What pybtex makes of ``latex`` (``parse_latex`` without the markup)."""
    if _DECODER_WORK.search(latex):
        return _PYBTEX_FROM_LATEX.__func__(Text, latex)
    return LaTeXParser(latex.replace("--", "\u2013")).parse()


# -- LaTeX markup: what pybtex's parser keeps as text ----------------------------------------------
#
# pybtex decodes accents and special characters (latexcodec) and makes each braced group a Protected
# part, but knows no command: ``\emph{in vivo}`` came out as "\emph in vivo" in every backend. The
# commands below become rich text (kb's tag names, which kb's backends above render); the
# text around and inside them is decoded by pybtex as before, and everything else (an unknown command,
# a command with no braced argument) stays exactly what pybtex made of it.
#
# - A command's braced argument stays protected from sentence case, as BibTeX keeps it and as the
#   brace group it was before: ``\emph{In Vivo}`` is Tag("em", Protected("In Vivo")). A declaration
#   (``{\em x}``, ``{\bf x}``) formats the rest of its group, which stays Protected as before.
# - ``\enquote{x}`` and ``\mkbibquote{x}`` put x in quotation marks (“x”).
# - ``\url{u}`` and ``\href{u}{text}`` become links; the address is taken as written (``\_`` and the
#   like unescaped, as kb.bib does for url fields), never decoded as LaTeX.
# - Maths (``$...$``, ``$$...$$``) is text without the dollar signs, protected from sentence case:
#   ``^``/``_`` become superscript/subscript, commands latexcodec knows become their character
#   (``$\alpha$`` -> α, ``$\geq$`` -> ≥), ``\mathrm{x}`` and the like their argument, ``\,`` a narrow
#   space; any other command is shown as written (``\frac``). White space is kept as written (one
#   space: ``$p < 0.05$``, ``$\geq 60$``). kb renders no maths layout.
# - ``\$``, ``\{`` and ``\}`` are the characters (pybtex kept the backslash).

#: Commands formatting their braced argument -> kb's tag.
_COMMAND_TAGS = {
    "emph": "em", "mkbibemph": "em",
    "textit": "i", "mkbibitalic": "i", "textsl": "i",
    "textbf": "b", "mkbibbold": "b",
    "textsc": "sc", "texttt": "tt", "textrm": "rm", "textsf": "sf",
    "textsuperscript": "sup", "mkbibsuperscript": "sup", "textsubscript": "sub", "mkbibsubscript": "sub",
}
#: Declarations formatting the rest of their group (``{\em x}``) -> kb's tag.
_SWITCH_TAGS = {
    "em": "em", "it": "i", "itshape": "i", "sl": "i", "slshape": "i", "bf": "b", "bfseries": "b",
    "sc": "sc", "scshape": "sc", "tt": "tt", "ttfamily": "tt", "rm": "rm", "rmfamily": "rm", "sf": "sf", "sffamily": "sf",
}
_LINKS = ("url", "href")
#: Commands putting their argument in quotation marks (BibLaTeX, csquotes).
_QUOTES = ("enquote", "mkbibquote")
#: Text holding markup ``_LaTeXMarkup`` reads: a command above, a dollar sign, an escaped brace.
_MARKUP = re.compile(r"\\(?:%s)(?![A-Za-z])|\$|\\[{}]" % "|".join(sorted([*_COMMAND_TAGS, *_SWITCH_TAGS, *_LINKS, *_QUOTES], key=len, reverse=True)))
_SPECIAL = re.compile(r"[\\{}$]")
_CONTROL = re.compile(r"\\(?:([A-Za-z]+)|(.))", re.S)
_SPACE = re.compile(r"\s*")
_URL_ESCAPE = re.compile(r"\\([_%&#$~])(?:\{\})?")
#: Maths commands that stand for their argument.
_MATH_TEXT = frozenset({"mathrm", "mathit", "mathbf", "mathsf", "mathtt", "mathnormal", "text", "textrm", "textit", "textbf", "mbox", "operatorname"})
#: Maths symbols latexcodec does not know (it knows \leq, \geq, \neq, \alpha, \mu, \pm, \times...).
_MATH_SYMBOLS = {"le": "≤", "ge": "≥", "ne": "≠", "to": "→", "circ": "∘", "dots": "…", "cdots": "⋯", "prime": "′", "lt": "<", "gt": ">",
                 "log": "log", "ln": "ln", "exp": "exp", "sin": "sin", "cos": "cos", "min": "min", "max": "max", "lim": "lim"}
#: Maths spacing commands.
_MATH_SPACES = {",": "\u202f", ":": " ", ";": " ", ">": " ", " ": " ", "!": "", "quad": " ", "qquad": " "}


@lru_cache(maxsize=1024)
def _math_symbol(name: str) -> str | None:
    """The character of maths command ``\\name`` (``alpha`` -> α), or None."""
    import codecs

    import latexcodec  # noqa: F401  (registers the codec)

    if name in _MATH_SYMBOLS:
        return _MATH_SYMBOLS[name]
    for latex in ("$\\" + name + "$", "\\" + name):
        try:
            text = codecs.decode(latex, "ulatex")
        except Exception:
            continue
        if text and "\\" not in text and "$" not in text:
            return text.strip() or None
    return None


class _LaTeXMarkup:
    """Rich text of LaTeX with the markup of ``_MARKUP``, read left to right (see the notes above).
    Raises (PybtexSyntaxError or ValueError) on unbalanced braces or an unclosed argument."""

    def __init__(self, latex: str) -> None:
        self.latex = latex
        self.pos = 0

    def parse(self) -> Text:
        parts, _ = self._content(0)
        return Text(*parts)

    def _content(self, depth: int) -> tuple[list, bool]:
        """The parts up to the ``}`` closing this group (consumed) or, at depth 0, the end; and
        whether any markup was read (a group without any is left to pybtex whole, braces and all)."""
        latex, parts, raw, markup = self.latex, [], [], False
        at_start = self.pos == 0  # the decoder drops the white space that starts the whole text, as pybtex does

        def flush() -> None:
            if raw:
                parts.extend(self._plain("".join(raw), at_start and not parts))
                raw.clear()

        while True:
            found = _SPECIAL.search(latex, self.pos)
            if found is None:
                if depth:
                    raise ValueError("unbalanced braces")
                raw.append(latex[self.pos:])
                self.pos = len(latex)
                break
            raw.append(latex[self.pos:found.start()])
            self.pos, char = found.start(), found.group()
            if char == "}":
                if not depth:
                    raise ValueError("unbalanced braces")
                self.pos += 1
                break
            if char == "{":
                start = self.pos
                self.pos += 1
                inner, inner_markup = self._content(depth + 1)
                if inner_markup:
                    flush()
                    parts.append(inner[0] if len(inner) == 1 and type(inner[0]) is Protected else Protected(*inner))
                    markup = True
                else:
                    raw.append(latex[start:self.pos])
                continue
            if char == "$":
                math = self._math_span()
                if math is None:
                    raw.append("$")
                    self.pos += 1
                else:
                    flush()
                    parts.append(Protected(*self._math(math)))
                    markup = True
                continue
            control = _CONTROL.match(latex, self.pos)
            if control is None:  # a backslash at the end
                raw.append("\\")
                self.pos += 1
                continue
            name, symbol = control.group(1), control.group(2)
            after = _SPACE.match(latex, control.end()).end() if name else control.end()
            if symbol in ("{", "}", "$"):
                flush()
                parts.append(String(symbol))
                self.pos, markup = control.end(), True
            elif name in _SWITCH_TAGS:
                flush()
                self.pos = after
                inner, _ = self._content(depth)  # the rest of the group, its closing brace too
                parts.append(Tag(_SWITCH_TAGS[name], *inner))
                return parts, True
            elif (name in _COMMAND_TAGS or name in _LINKS or name in _QUOTES) and latex.startswith("{", after):
                flush()
                self.pos = after + 1
                parts.append(self._command(name, depth))
                markup = True
            else:  # an accent, a special character, an unknown command: pybtex's, with what follows
                raw.append(control.group())
                self.pos = control.end()
        flush()
        return parts, markup

    def _plain(self, latex: str, at_start: bool) -> list:
        """pybtex's parts of text between markup; the decoder drops a leading space, which here is
        a real space between words (``\\emph{a} b``)."""
        if not at_start and latex[:1].isspace():
            rest = latex.lstrip()
            return [String(" "), *(_plain_latex(rest).parts if rest else ())]
        return list(_plain_latex(latex).parts)

    def _verbatim(self) -> str:
        """The argument whose ``{`` was just read, as written, up to its matching ``}`` (consumed)."""
        latex, depth, start = self.latex, 1, self.pos
        for brace in re.finditer(r"\\.|[{}]", latex[start:], re.S):
            if brace.group() == "{":
                depth += 1
            elif brace.group() == "}":
                depth -= 1
                if not depth:
                    self.pos = start + brace.end()
                    return latex[start:start + brace.start()]
        raise ValueError("unclosed argument")

    def _command(self, name: str, depth: int):
        if name in _LINKS:
            url = _URL_ESCAPE.sub(r"\1", self._verbatim()).strip()
            if name == "href":
                after = _SPACE.match(self.latex, self.pos).end()
                if self.latex.startswith("{", after):
                    self.pos = after + 1
                    inner, _ = self._content(depth + 1)
                    return HRef(url, Protected(*inner))
            return Protected(HRef(url, String(url)))
        inner, _ = self._content(depth + 1)
        if name in _QUOTES:
            return Text(String("\u201c"), Protected(*inner), String("\u201d"))
        return Tag(_COMMAND_TAGS[name], Protected(*inner))

    def _math_span(self) -> str | None:
        """The maths starting at the ``$`` here (consumed with its closing ``$`` or ``$$``), or None
        (a lone dollar sign)."""
        latex, start = self.latex, self.pos
        fence = "$$" if latex.startswith("$$", start) else "$"
        end = start + len(fence)
        while True:
            end = latex.find(fence, end)
            if end < 0:
                return None
            backslashes = end - len(latex[:end].rstrip("\\"))
            if backslashes % 2 == 0:  # not \$, a dollar sign
                break
            end += 1
        self.pos = end + len(fence)
        return latex[start + len(fence):end]

    def _math(self, math: str) -> list:
        """Rich text parts of maths (no dollar signs): see the notes above."""
        parts, text, pos = [], [], 0

        def argument() -> str:
            """The next argument (a braced group, a command or a character) as written."""
            nonlocal pos
            pos = _SPACE.match(math, pos).end()
            if math.startswith("{", pos):
                depth, start = 0, pos
                while pos < len(math):
                    depth += {"{": 1, "}": -1}.get(math[pos], 0)
                    pos += 2 if math[pos] == "\\" else 1
                    if not depth:
                        return math[start + 1:pos - 1]
                return math[start + 1:]
            control = _CONTROL.match(math, pos)
            if control:
                pos = control.end()
                return control.group()
            pos += 1
            return math[pos - 1:pos]

        while pos < len(math):
            char = math[pos]
            if char in "^_":
                pos += 1
                if text:
                    parts.append(String("".join(text)))
                    text.clear()
                parts.append(Tag("sup" if char == "^" else "sub", *self._math(argument())))
            elif char == "\\" and pos + 1 < len(math):
                control = _CONTROL.match(math, pos)
                pos = control.end()
                name, symbol = control.group(1), control.group(2)
                if name in _MATH_TEXT:
                    if text:
                        parts.append(String("".join(text)))
                        text.clear()
                    parts.extend(self._math(argument()))
                elif (name or symbol) in _MATH_SPACES:
                    text.append(_MATH_SPACES[name or symbol])
                elif symbol is not None:
                    text.append(symbol if symbol in "{}$%&#_" else control.group())
                elif (character := _math_symbol(name)) is not None:
                    text.append(character)
                else:  # shown as written, with its braced arguments
                    text.append(control.group())
                    while math.startswith("{", _SPACE.match(math, pos).end()):
                        start = pos
                        argument()
                        text.append(math[start:pos])
            elif char in "{}":
                pos += 1
            elif char == "~":
                text.append("\u00a0")
                pos += 1
            elif char.isspace():
                end = _SPACE.match(math, pos).end()
                text.append(" ")
                pos = end
            else:
                text.append(char)
                pos += 1
        if text:
            parts.append(String("".join(text)))
        return parts


_SUPERSCRIPTS = str.maketrans("0123456789+-\u2212=()", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207a\u207b\u207b\u207c\u207d\u207e")
_SUBSCRIPTS = str.maketrans("0123456789+-\u2212=()", "\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089\u208a\u208b\u208b\u208c\u208d\u208e")


class TextBackend(_PybtexText):
    """pybtex's plain text backend; a superscript or subscript of digits and signs becomes Unicode
    (m², CO₂), any other the text alone (19th)."""

    def format_tag(self, tag_name, text):
        table = _SUPERSCRIPTS if tag_name == "sup" else _SUBSCRIPTS if tag_name == "sub" else None
        if table is not None and text and all(ord(ch) in table for ch in text):
            return text.translate(table)
        return text


# -- plain text ---------------------------------------------------------------------------------

_PLAIN_TEXT = TextBackend()
#: A command left in the plain text: one neither pybtex (accents, \&...) nor ``_LaTeXMarkup`` knows.
_LEFTOVER_CMD_RE = re.compile(r"\\[A-Za-z]+")


@lru_cache(maxsize=65536)  # names and journals repeat across entries; pybtex's LaTeX decoding costs ~0.2 ms a call
def latex_to_text(value: str) -> tuple[str, tuple[str, ...]]:
    r"""LaTeX field text -> (Unicode plain text, the commands in it that are not known, each once,
    in order: ``("\foreign",)``). Markup is read as in citations (``parse_latex``): ``\emph{x}`` is x,
    ``\textsuperscript{2}`` and ``$m^2$`` are ², ``\url{u}`` is u, ``\$`` is $; an unknown command
    stays as pybtex leaves it (``\foo{x}`` -> ``\foo x``). LaTeX that cannot be read (unbalanced
    braces) is returned as it is, and is itself the unknown part."""
    if "\\" not in value and "{" not in value and "~" not in value and "$" not in value:
        return value, ()
    try:
        tree = parse_latex(value)
        text = tree.render(_PLAIN_TEXT)
    except Exception:  # pybtex/latexcodec raise assorted errors on broken LaTeX
        return value, (value,)
    scanned = text
    for url in _addresses(tree):  # an address is taken as written: a backslash in it is no command
        scanned = scanned.replace(url, " ")
    return text, tuple(dict.fromkeys(_LEFTOVER_CMD_RE.findall(scanned)))


def _addresses(node) -> list[str]:
    r"""The address of every link (``\url``, ``\href``) in a tree ``parse_latex`` made."""
    found = [node.url] if isinstance(node, HRef) else []
    for part in getattr(node, "parts", ()):
        found += _addresses(part)
    return found
