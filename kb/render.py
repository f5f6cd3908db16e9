"""Stage 4, render: Jinja2 templates -> text (HTML, Markdown, ...).

Template search path, first hit wins (the mkdocs ``Theme.dirs`` pattern):

1. ``--templates DIR`` given on the command line,
2. ``<kb root>/templates/`` of the knowledge base,
3. the built-in templates shipped with kb.

A user overrides a built-in template by putting a file of the same name in (1) or (2); to change
one block, extend the built-in template (``{% extends "builtin/site/claim.html.j2" %}``: the
``builtin/`` prefix names kb's own copy) and override only that block. Templates receive plain
data (dicts, dataclasses) and never call networkx or pybtex. Autoescaping is on for every ``.html``/``.html.j2``/``.svg.j2`` template. Templates are loaded
only from these folders: the loader refuses paths that climb out of them (``..``), and symlinks
that leave the folder are refused too, so a template override cannot read other files.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from functools import cache, lru_cache
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
import jinja2.meta
from jinja2.utils import missing
from markupsafe import Markup

from .bib import DOI_RE
from .errors import RenderError
from .model import UI_LANGUAGES  # noqa: F401  (re-exported: kb.render.UI_LANGUAGES)
from .resources import resource_dir

__all__ = [
    "UI_LANGUAGES",
    "doi_url",
    "make_env",
    "md_escape",
    "pmc_url",
    "pubmed_url",
    "read_asset",
    "render_template",
    "safe_url",
    "sanitize_html",
    "template_dirs",
    "ui_words",
]


def template_dirs(kb_root: str | os.PathLike | None = None, extra: str | os.PathLike | None = None) -> list[Path]:
    """The template search path, first hit wins."""
    dirs = []
    if extra:
        dirs.append(Path(extra))
    if kb_root is not None and (Path(kb_root) / "templates").is_dir():
        dirs.append(Path(kb_root) / "templates")
    dirs.append(resource_dir("templates"))
    return dirs


#: Names starting with this prefix are looked up in the built-in templates only, so that an override
#: can extend the built-in template of the same name: {% extends "builtin/site/claim.html.j2" %}.
BUILTIN_PREFIX = "builtin/"


class _ConfinedLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that also refuses symlinks pointing outside its folders, and resolves
    ``builtin/<name>`` to the built-in template ``<name>``."""

    def get_source(self, environment, template):
        if template.startswith(BUILTIN_PREFIX):
            builtin = _ConfinedLoader([resource_dir("templates")])
            try:
                return builtin.get_source(environment, template[len(BUILTIN_PREFIX):])
            except jinja2.TemplateNotFound:
                raise jinja2.TemplateNotFound(template) from None
        self._check_readable(template)
        try:
            source, filename, uptodate = super().get_source(environment, template)
        except UnicodeDecodeError as exc:  # which file, and where in it: the error alone does not say
            from .errors import Location, NotUtf8, decode_utf8

            path = next((os.path.join(d, template) for d in self.searchpath if os.path.isfile(os.path.join(d, template))), template)
            where = Location(path)
            try:
                decode_utf8(Path(path).read_bytes())  # the place kb check gives a file that is not UTF-8
            except NotUtf8 as bad:
                where = Location(path, bad.line, bad.column)
            except OSError:
                pass
            raise RenderError(f"{template!r} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x})", location=where,
                              hint="save it as UTF-8, or remove it to use the built-in one") from None
        except jinja2.TemplateNotFound:  # an OSError too, for Jinja2: not there, which the environment reports
            raise
        except OSError as exc:  # there, but not readable
            raise RenderError(f"cannot read {exc.filename or template}: {exc.strerror or exc}",
                              hint="give yourself read access to it (chmod u+r), or remove it to use the built-in one") from None
        real = os.path.realpath(filename)
        if not any(real.startswith(os.path.realpath(d) + os.sep) for d in self.searchpath):
            raise RenderError(f"template {template!r} ({filename}) is a link to a file outside the template folders; it is not read",
                              hint="copy the file into the templates folder instead of linking to it")
        return source, filename, uptodate

    def _check_readable(self, template: str) -> None:
        """A RenderError when the first folder that may hold ``template`` cannot be searched: Jinja2's
        loader takes a file it cannot see (a folder of overrides without read access) for one that is
        not there, and would use the built-in template instead of the user's without a word."""
        pieces = jinja2.loaders.split_template_path(template)  # TemplateNotFound for a name with '..'
        for folder in self.searchpath:
            path = os.path.join(folder, *pieces)
            try:
                os.stat(path)
            except PermissionError:
                blocked = folder  # the folder that cannot be searched: the parent of the first name stat cannot reach
                for depth in range(1, len(pieces)):
                    try:
                        os.stat(os.path.join(folder, *pieces[:depth]))
                    except PermissionError:
                        break
                    except OSError:
                        continue
                    blocked = os.path.join(folder, *pieces[:depth])
                raise RenderError(f"cannot look for {template!r} in {blocked}/: permission denied",
                                  hint="give yourself access to the folder (chmod u+rx), or remove it to use the built-in files") from None
            except (OSError, ValueError):  # not there (or not a name a file can have): the next folder
                continue
            return


def _text_escaper() -> Any:
    """``escape`` for the output of templates: the same text as markupsafe's ``escape``, returned as a
    plain ``str`` for a plain ``str`` value instead of a new ``Markup`` object. What a template outputs
    is only joined into the page (and wrapped in ``Markup`` again where a macro or block returns it), so
    the kind of string is never seen; the ``Markup`` object cost about 0.3 us of each of the 100-2,000
    values a page outputs. markupsafe's own quick escaper is not public: without it, its ``escape``."""
    import markupsafe

    inner, escape_markup = getattr(markupsafe, "_escape_inner", None), markupsafe.escape
    if inner is None or inner("<&>'\"") != str(escape_markup("<&>'\"")):
        return escape_markup

    def escape_text(value: Any) -> Any:
        return inner(value) if type(value) is str else escape_markup(value)

    return escape_text


class _Template(jinja2.Template):
    """A template whose output escaping is ``_text_escaper`` (its compiled code looks ``escape`` up in
    its own module's names, which Jinja2 binds to markupsafe's), and whose module, imported ``with
    context``, is made again only when what it reads of the context changed (``make_module``)."""

    _escape = staticmethod(_text_escaper())

    @classmethod
    def _from_namespace(cls, environment, namespace, globals):  # noqa: A002 (Jinja2's name)
        namespace["escape"] = cls._escape
        template = super()._from_namespace(environment, namespace, globals)
        template._reads = _UNKNOWN  # the context names its module reads (``_module_reads``), found when first imported
        template._last_module = None  # (the values of those names, the module made from them)
        return template

    def make_module(self, vars=None, shared=False, locals=None):  # noqa: A002 (Jinja2's names)
        """The module of this template for a page that imports it ``with context``: every page of the
        site does (``{% import "site/_macros.html.j2" as m with context %}``), which runs the macro
        file again, each macro made anew, about 3 % of a build of 100,000 claims. A module of macros
        reads nothing of the page's context but the names its code names (``_module_reads``), each
        looked up when a macro runs: the module made for the last page is the one for this page too
        when each of those names has the same value (the same object, or an equal string). Any other
        module (a template whose top level does more than define macros, one imported with names of
        its own, or without context) is made as Jinja2 makes it."""
        reads = self._module_reads()
        if reads is None or not shared or vars is None or (locals and any(v is not missing for v in locals.values())):
            return super().make_module(vars, shared, locals)
        values = tuple(vars.get(name, missing) for name in reads)
        last = self._last_module
        if last is not None and all(a is b or (type(a) is str and type(b) is str and a == b) for a, b in zip(last[0], values)):
            return last[1]
        module = super().make_module(vars, shared, locals)
        self._last_module = (values, module)
        return module

    def _module_reads(self) -> tuple[str, ...] | None:
        """The names this template's code takes from the context, when its top level only defines
        macros (a module made once then stays the same whatever the page does with it); else None."""
        if self._reads is _UNKNOWN:
            self._reads = None
            try:
                source = self.environment.loader.get_source(self.environment, self.name)[0] if self.name else None
                tree = self.environment.parse(source) if source is not None else None
            except Exception:  # not found again, unreadable, or no loader: Jinja2's own way then
                tree = None
            if tree is not None and all(isinstance(node, jinja2.nodes.Macro) or _blank(node) for node in tree.body):
                self._reads = tuple(sorted(jinja2.meta.find_undeclared_variables(tree)))
        return self._reads


#: ``_Template._reads`` before it was worked out.
_UNKNOWN = object()


def _blank(node: Any) -> bool:
    """Is ``node`` only text without a variable (the blank lines between macros)?"""
    return isinstance(node, jinja2.nodes.Output) and all(isinstance(part, jinja2.nodes.TemplateData) for part in node.nodes)


#: What ``getattr`` finds on a plain dict: the attributes of the dict type (``items``, ``get``, ...).
_DICT_ATTRIBUTES = frozenset(dir(dict))


#: The callables ``_Context.call`` calls straight: a template's macros (whose ``__call__`` always takes
#: the evaluation context) and Python's built-in functions and methods (``t.get(...)``,
#: ``page.startswith(...)``), which cannot carry Jinja2's ``pass_context`` mark, so never take one.
_MACRO, _BUILTIN = jinja2.runtime.Macro, type(len)


class _Context(jinja2.runtime.Context):
    """Jinja2's context with a quicker call of a macro or a built-in method.

    For every call in a template Jinja2 asks the callable, and its ``__call__``, whether it wants the
    context, the environment or the evaluation context passed: attribute look-ups that fail, each
    raising and catching AttributeError, about a tenth of the time of an article page, whose notes
    call macros some 180 times. What the answer is for these two is known: a macro's ``__call__``
    takes the evaluation context (whether the caller escapes, which decides whether the macro's
    output is markup), a built-in method nothing; so each is called straight, as Jinja2 would call it."""

    def call(__self, __obj, *args, **kwargs):  # noqa: N805 (Jinja2's names: a template may pass "self" or "obj")
        kind = type(__obj)
        if kind is not _MACRO and kind is not _BUILTIN:
            return super().call(__obj, *args, **kwargs)
        kwargs.pop("_block_vars", None)
        kwargs.pop("_loop_vars", None)
        try:
            return __obj(__self.eval_ctx, *args, **kwargs) if kind is _MACRO else __obj(*args, **kwargs)
        except StopIteration:
            return __self.environment.undefined("value was undefined because a callable raised a StopIteration exception")


class _Environment(jinja2.Environment):
    """Jinja2's environment with a quicker ``x.y`` for the dicts kb's view models are made of.

    Jinja2 looks ``y`` up as an attribute first and, when that raises AttributeError, as a key. On a
    plain dict only the names of the dict type are attributes, so for every other name this goes
    straight to the key, with the same result (the value, or undefined) without raising and catching
    an exception: about a quarter of the template time of the site at 10,000 claims."""

    template_class = _Template
    context_class = _Context

    def make_globals(self, d: Any) -> dict[str, Any]:
        """A template's globals as a plain dict of the environment's and its own, instead of Jinja2's
        ``ChainMap`` of the two, which every render walked to copy it into the page's context (about
        1 % of a build). kb sets the environment's globals before it loads a template and never
        after, so a template sees the same names either way."""
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


class _BytecodeCache(jinja2.BytecodeCache):
    """Templates compiled to Python code once and kept between runs, in this user's cache folder
    (``<user cache folder>/templates``): about 0.2 s of every ``kb build`` was compiling the site's
    templates again.

    Compiled code runs when it is loaded, so each file is signed like kb's other cache files
    (kb/cache.py ``_write_signed``, with this user's secret key): a file someone else put there is never
    loaded, whatever the folder's permissions. The signed state holds the template's name, path and
    source checksum and what compiles it (kb's version and this module's source, which set the
    autoescaping and whitespace rules, Jinja2's version, the Python implementation), so code compiled
    by another kb, Jinja2 or Python is never used; one file per template (the newest compilation)."""

    def __init__(self, folder: Path, key: bytes) -> None:
        from . import __version__

        self.folder, self.key = folder, key
        self._salt = hashlib.blake2b(b"\0".join((__version__.encode(), Path(__file__).read_bytes(), jinja2.__version__.encode(),
                                                  sys.implementation.cache_tag.encode())), digest_size=16).hexdigest()

    def _state(self, bucket) -> bytes:
        return hashlib.blake2b(f"{self._salt}\0{bucket.key}\0{bucket.checksum}".encode(), digest_size=32).digest()

    def load_bytecode(self, bucket) -> None:
        from .cache import _read_signed

        payload = _read_signed(self.folder / f"{bucket.key}.jinja", self._state(bucket))
        if payload is not None:
            try:
                bucket.bytecode_from_string(bytes(payload))
            except Exception:  # damaged after all: compile again
                bucket.reset()

    def dump_bytecode(self, bucket) -> None:
        from .cache import _write_signed

        _write_signed(self.folder / f"{bucket.key}.jinja", self._state(bucket), bucket.bytecode_to_string(), self.key)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """The compiled-template cache, or None with ``KB_CACHE=0``, without a cache key or when the folder
    cannot be made."""
    from .cache import _cache_key, cache_enabled, user_cache_folder

    if not cache_enabled():
        return None
    key = _cache_key()
    if key is None:
        return None
    try:
        folder = user_cache_folder() / "templates"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except (OSError, RuntimeError):
        return None
    return _BytecodeCache(folder, key)


def make_env(dirs: list[Path]) -> jinja2.Environment:
    env = _Environment(
        bytecode_cache=_bytecode_cache(),
        loader=_ConfinedLoader([str(d) for d in dirs]),
        autoescape=jinja2.select_autoescape(["html", "html.j2", "svg", "svg.j2", "xml.j2"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["safe_url"] = safe_url
    env.filters["doi_url"] = doi_url
    env.filters["lang_attr"] = lang_attr
    env.filters["pubmed_url"] = pubmed_url
    env.filters["pmc_url"] = pmc_url
    env.filters["sanitize_html"] = sanitize_html
    return env


def read_asset(env: jinja2.Environment, name: str) -> str:
    """The raw text of a static file (CSS, JS) found on the template search path, so that a knowledge
    base can override ``assets/site.css`` like any template. Not rendered: copied as is. An override that
    cannot be read, or is not UTF-8, raises the loader's RenderError (``_ConfinedLoader``)."""
    try:
        return env.loader.get_source(env, name)[0]
    except jinja2.TemplateNotFound:
        raise RenderError(f"asset {name!r} not found", hint="search path: " + ", ".join(env.loader.searchpath)) from None


# ---------------------------------------------------------------------------------------------
# Links and markup from untrusted data (claims, BibTeX): URLs only http(s), markup only from an
# allowlist. Jinja's autoescape makes plain text inert; these two cover the places where a value
# becomes an attribute (href) or where a library (pybtex's HTML backend) hands us markup.

_SCHEMES = ("http", "https")


def safe_url(url: Any) -> str:
    """``url`` if it is an absolute http(s) URL with a host, else "" (refuses javascript:, data:,
    vbscript:, relative and protocol-relative URLs, and anything with control characters or spaces)."""
    if not isinstance(url, str):
        return ""
    url = url.strip()
    if not url or re.search(r"[\x00-\x20\x7f<>\"'`\\]", url):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in _SCHEMES or not parts.netloc or parts.netloc.startswith("@"):
        return ""
    return url


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#@^~$|])")
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")


def md_escape(value: Any) -> str:
    """Text from claims or BibTeX made inert in Markdown (CommonMark and pandoc): characters that
    Markdown or pandoc read as markup (emphasis, links, HTML, ``@`` citations, ``^ ~`` super- and
    subscript, ``$`` maths, tables) get a backslash, and so does the ``&`` of an HTML entity.
    The ``md`` filter of document templates and kb.cite's Markdown backend both use it."""
    return _MD_ENTITY.sub(r"\\&", _MD_SPECIAL.sub(r"\\\1", str(value)))


def doi_url(doi: Any) -> str:
    """https://doi.org/<doi> for a well-formed DOI, else "". The DOI is percent-encoded where needed."""
    return _doi_url(str(doi)) if isinstance(doi, str) else ""


@lru_cache(maxsize=65536)  # a page cites a reference that other pages cite too: made once per process
def _doi_url(doi: str) -> str:
    if not DOI_RE.match(doi.strip()):
        return ""
    return "https://doi.org/" + quote(doi.strip(), safe="/:;()._-")


def lang_attr(tag: Any) -> Any:
    """`` lang="<tag>"`` (escaped, as markup) for a language tag, or "" for none: ``<p{{ tag|lang_attr }}>``
    marks an element's language only when it is known (kb.yaml ``review_language``)."""
    if not tag:
        return ""
    return _lang_attr(tag) if type(tag) is str else _lang_attr.__wrapped__(tag)  # an unhashable or str-like tag: not remembered


@lru_cache(maxsize=64)  # one tag per build, on every piece of reviewer text (76 a page of an article)
def _lang_attr(tag: str) -> Markup:
    return Markup(' lang="%s"') % tag


def pubmed_url(pmid: Any) -> str:
    return _pubmed_url(pmid if type(pmid) is str else str(pmid or ""))


@lru_cache(maxsize=65536)
def _pubmed_url(pmid: str) -> str:
    pmid = pmid.strip()
    return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if re.fullmatch(r"\d{1,9}", pmid) else ""


def pmc_url(pmcid: Any) -> str:
    pmcid = str(pmcid or "").strip()
    return f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/" if re.fullmatch(r"PMC\d{1,10}", pmcid) else ""


_ALLOWED_TAGS = {"a", "b", "i", "em", "strong", "span", "sup", "sub", "code", "cite"}
_VOID_DROP = {"script", "style", "iframe", "object", "embed", "template", "noscript", "svg", "math", "title", "textarea", "xmp"}


class _Sanitizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.dropping = 0

    def handle_starttag(self, tag, attrs):
        if tag in _VOID_DROP:
            self.dropping += 1
            return
        if tag == "br":  # as <br/>: what this writes for either is read back the same (sanitizing twice changes nothing)
            self.handle_startendtag(tag, attrs)
            return
        if self.dropping or tag not in _ALLOWED_TAGS:
            return
        kept = ""
        if tag == "a":
            href = safe_url(dict(attrs).get("href") or "")
            if not href:
                self.open.append("")  # keep the text, drop the link
                return
            kept = f' href="{escape(href, quote=True)}" rel="noopener noreferrer"'
        elif tag == "span":
            cls = dict(attrs).get("class") or ""
            if cls == "bibtex-protected":
                kept = ' class="bibtex-protected"'
        self.out.append(f"<{tag}{kept}>")
        self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in _VOID_DROP:
            self.dropping = max(0, self.dropping - 1)
            return
        if self.dropping or tag not in _ALLOWED_TAGS:
            return
        # close up to the matching open tag, if any
        if tag in self.open or (tag == "a" and "" in self.open):
            while self.open:
                top = self.open.pop()
                if top:
                    self.out.append(f"</{top}>")
                if top == tag or (tag == "a" and top == ""):
                    break

    def handle_startendtag(self, tag, attrs):
        if tag == "br" and not self.dropping:
            self.out.append("<br>")

    def handle_data(self, data):
        if not self.dropping:
            self.out.append(escape(data, quote=False))

    def result(self) -> str:
        self.close()
        while self.open:
            top = self.open.pop()
            if top:
                self.out.append(f"</{top}>")
        return "".join(self.out)


def sanitize_html(fragment: Any) -> Markup:
    """An HTML fragment reduced to an allowlist of inline tags (a, em, i, b, strong, span, sup, sub,
    code, cite), with no attributes except a checked http(s) ``href`` and ``class="bibtex-protected"``.
    Script, style and other active elements are dropped with their content; all text is re-escaped.
    Sanitizing what it gives changes nothing. Used for citation text from pybtex's HTML backend, which
    does not escape URLs (kb.cite keeps it sanitized: ``format_reference(..., "html")``)."""
    parser = _Sanitizer()
    parser.feed(str(fragment or ""))
    return Markup(parser.result())


def render_template(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    """Render template ``name``; any template problem becomes a RenderError with file and line.

    Templates may come from the user (overrides), so anything a template raises while rendering
    (an undefined name, a type error in an expression, a template that extends itself) is reported
    as the template's fault, at the last template line on the stack, never as a crash of kb.
    """
    from .errors import KbError, Location

    try:
        return env.get_template(name).render(context)  # the dict as it is: not copied into keywords first
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {exc.name!r} not found", hint="search path: " + ", ".join(env.loader.searchpath)) from None
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"template syntax error: {exc.message}", location=Location(exc.filename or exc.name or name, exc.lineno or 0)) from None
    except KbError:
        raise
    except RecursionError:
        raise RenderError(f"template {name!r} extends or includes itself",
                          hint=f'to extend the built-in template of the same name, write {{% extends "{BUILTIN_PREFIX}{name}" %}}') from None
    except Exception as exc:  # UndefinedError, TypeError, ZeroDivisionError ... raised by template code
        message = exc.message if isinstance(exc, jinja2.TemplateError) and exc.message else f"{type(exc).__name__}: {exc}"
        raise RenderError(f"template error: {message}", location=_template_frame(exc)) from None


def _template_frame(exc: BaseException):
    """The innermost template line on the traceback of ``exc``, or None."""
    import traceback

    from .errors import Location

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    return Location(frames[-1].filename, frames[-1].lineno or 0) if frames else None


@cache
def ui_words(lang: str) -> dict[str, str]:
    """Interface words for ``lang`` from data/i18n/<lang>.yaml (falls back to English per word)."""
    from .yamlsafe import parse_yaml

    def read(code: str) -> dict[str, str]:
        path = resource_dir("data") / "i18n" / f"{code}.yaml"
        if not path.exists():
            return {}
        return parse_yaml(path.read_text(encoding="utf-8"))[0] or {}

    words = read("en")
    if lang != "en":
        words = {**words, **read(lang)}
    return words
