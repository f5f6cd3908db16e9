"""kb.render's template environment: ``x.y`` on a dict is looked up quicker than Jinja2 does it, with the
same result in every case (an attribute of the dict type wins over a key of the same name; a missing
key is undefined, which kb's strict environment reports); its compiled templates are kept safely; and
its loader names an override it cannot read instead of falling back to the built-in template."""

from __future__ import annotations

import collections
import os

import jinja2
import pytest
from markupsafe import Markup

from kb.render import make_env


class _Obj:
    name = "attribute"


@pytest.fixture
def both(tmp_path):
    ours = make_env([tmp_path])
    plain = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)

    def render(source: str, **context) -> tuple[str, str]:
        return ours.from_string(source).render(context), plain.from_string(source).render(context)

    return render


@pytest.mark.parametrize("source, context", [
    ("{{ d.name }}", {"d": {"name": "<b>key</b>"}}),
    ("{{ d.items() | list }}", {"d": {"items": "a key named items", "x": 1}}),  # the method, not the key
    ("{{ d.get('x') }}", {"d": {"get": "a key named get", "x": 2}}),
    ("{{ d.name }}", {"d": collections.OrderedDict(name="subclass")}),
    ("{{ d.name }}", {"d": _Obj()}),
    ("{{ d.name is defined }}", {"d": {}}),
    ("{{ (d.name or 'fallback') if d.name is defined else 'undefined' }}", {"d": {"other": 1}}),
    ("{% for k in d.keys() %}{{ k }}{% endfor %}", {"d": {"keys": 1, "b": 2}}),
])
def test_dict_lookups_give_what_jinja_gives(both, source, context):
    ours, plain = both(source, **context)
    assert ours == plain


class _Html:
    def __html__(self):
        return "<i>already markup</i>"


@pytest.mark.parametrize("source, context", [
    ("{{ s }}|{{ n }}|{{ f }}|{{ none }}|{{ m }}|{{ h }}", {"s": "<a href='x'>&\"</a>", "n": 3, "f": 1.5, "none": None,
                                                          "m": Markup("<b>safe</b>"), "h": _Html()}),
    ("{{ s | safe }}{{ s ~ m }}{{ [s] }}{{ s | upper }}", {"s": "<x>'", "m": Markup("<b>")}),
    ("{% macro q(v) %}<q>{{ v }}</q>{% endmacro %}{{ q(s) }}{{ q(s) | length }}", {"s": "<&>"}),
    ("{% set block %}<p>{{ s }}</p>{% endset %}{{ block }}{{ block | length }}", {"s": "a<b"}),
    ("{% macro w() %}[{{ caller() }}]{% endmacro %}{% call w() %}{{ s }}{% endcall %}", {"s": "\"'"}),
    ("{% autoescape false %}{{ s }}{% endautoescape %}{{ s }}", {"s": "<raw>"}),
    ("{% for x in xs %}{{ loop.index }}:{{ x }};{% endfor %}", {"xs": ["<", ">", "&", 7]}),
])
def test_output_is_escaped_as_jinja_escapes_it(both, source, context):
    ours, plain = both(source, **context)
    assert ours == plain


def test_output_escaping_is_kbs_quicker_one(tmp_path):
    """The same text as markupsafe gives (above), through kb's escaper: a plain str for a plain str."""
    template = make_env([tmp_path]).from_string("{{ s }}")
    escape = template.root_render_func.__globals__["escape"]
    assert escape("<&>") == "&lt;&amp;&gt;" and type(escape("<&>")) is str
    assert type(escape(Markup("<b>"))) is Markup and escape(Markup("<b>")) == "<b>"


@jinja2.pass_context
def _page_of(context, suffix=""):
    return context["page"] + suffix


@jinja2.pass_environment
def _has_filter(environment, name):
    return name in environment.filters


class _WantsContext:
    @jinja2.pass_context
    def __call__(self, context):
        return "called with " + context["page"]


@pytest.mark.parametrize("source, context", [
    ("{% macro q(v, w='d') %}<{{ v }}|{{ w }}>{% endmacro %}{{ q(s) }}{{ q(s, w=s) }}{{ q('x', 'y') }}", {"s": "<&>"}),
    ("{% macro q(v) %}{{ v }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ q(1, 2, a=3) }}", {}),
    ("{% macro q(v) %}{{ v }}{% endmacro %}{% for x in xs %}{% set y = x ~ '!' %}{{ q(y) }}{% endfor %}", {"xs": ["a", "<"]}),
    ("{% macro w() %}[{{ caller(1) }}]{% endmacro %}{% call(n) w() %}{{ n }}{{ s }}{% endcall %}", {"s": "<"}),
    # called where nothing is escaped, a macro gives plain text, which is escaped where it is output later
    ("{% macro q(v) %}<q>{{ v }}</q>{% endmacro %}{% set ns = namespace() %}"
     "{% autoescape false %}{% set ns.x = q(s) %}{{ q(s) }}{% endautoescape %}{{ ns.x }}",
     {"s": "<&>"}),
    ("{{ d.get('k') }}{{ d.get('missing', '<no>') }}{{ s.startswith('<') }}{{ ', '.join(xs) }}", {"d": {"k": "<v>"}, "s": "<a", "xs": ["<", "b"]}),
    ("{{ next(empty, '<done>') }}{{ next(empty) is defined }}", {"next": next, "empty": iter([])}),  # StopIteration: undefined
    ("{{ page_of() }}{{ page_of('/x') }}{% for x in xs %}{% set page = 'loop' %}{{ page_of() }}{% endfor %}",
     {"page_of": _page_of, "page": "<p>", "xs": [1]}),
    ("{{ has_filter('upper') }}{{ wants() }}", {"has_filter": _has_filter, "wants": _WantsContext(), "page": "p"}),
])
def test_calls_give_what_jinja_gives(both, source, context):
    """kb's context calls macros (with the evaluation context, which a macro always takes) and built-in
    methods (which take nothing) straight; everything else as Jinja2 does: the output is the same."""
    ours, plain = both(source, **context)
    assert ours == plain


def test_globals_are_the_environments_and_the_templates_own(tmp_path):
    """A template's globals are a plain dict (not Jinja2's ChainMap, walked at every render) holding
    Jinja2's globals and the template's own, which win; the environment's stay as they were."""
    ours, plain = make_env([tmp_path]), jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    source = "{{ range(2)|list }}{{ namespace(a=1).a }}{{ dict(b=2) }}{{ x }}{{ cycler }}"
    rendered = [env.from_string(source, globals={"x": "<own>", "cycler": "mine"}).render() for env in (ours, plain)]
    assert rendered[0] == rendered[1] == "[0, 1]1{&#39;b&#39;: 2}&lt;own&gt;mine"
    assert type(ours.from_string("").globals) is dict and "x" not in ours.globals


def test_a_macro_is_called_without_asking_it_for_the_context(tmp_path, monkeypatch):
    """The quicker call is the one taken: Jinja2's own ``Context.call`` is not reached for a macro."""
    template = make_env([tmp_path]).from_string("{% macro q(v) %}{{ v }}{% endmacro %}{{ q(1) }}{{ d.get('k') }}{{ f() }}")
    asked = []
    real = jinja2.runtime.Context.call
    monkeypatch.setattr(jinja2.runtime.Context, "call", lambda self, obj, *a, **k: asked.append(obj) or real(self, obj, *a, **k))
    assert template.render(d={"k": 2}, f=lambda: 3) == "123"
    assert len(asked) == 1 and asked[0]() == 3  # only the Python function went Jinja2's way


def _pages(tmp_path, files: dict[str, str], contexts: list[dict]) -> tuple[list[str], list[str]]:
    """Render ``page.html.j2`` once per context with kb's environment and with Jinja2's own (the same
    files and whitespace rules): the pages in order from each."""
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    plain = jinja2.Environment(loader=jinja2.FileSystemLoader(str(tmp_path)), autoescape=True, undefined=jinja2.StrictUndefined,
                               keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    ours = make_env([tmp_path])
    return ([ours.get_template("page.html.j2").render(c) for c in contexts],
            [plain.get_template("page.html.j2").render(c) for c in contexts])


_WORDS_NL, _WORDS_EN = {"go": "ga <naar>"}, {"go": "go <to>"}
_MACROS = """{#- macros -#}
{% macro link(href) -%}<a href="{{ root }}{{ href }}">{{ t['go'] }}</a>{%- endmacro %}

{% macro twice(x) %}{{ link(x) }}{{ link(x) }}{% endmacro %}
"""


@pytest.mark.parametrize("files", [
    {"_m.html.j2": _MACROS},  # a module of macros: made once for pages that give it the same names
    {"_m.html.j2": _MACROS.replace("{{ t['go'] }}", "{{ t['go'] }} {{ page }}")},  # reads the page's own name
    {"_m.html.j2": "{% set ns = namespace(n=0) %}{% macro link(href) %}{% set ns.n = ns.n + 1 %}{{ root }}{{ href }}#{{ ns.n }}{% endmacro %}"
                   "{% macro twice(x) %}{{ link(x) }}{{ link(x) }}{% endmacro %}"},  # state of its own: made per page
])
@pytest.mark.parametrize("page", [
    '{% import "_m.html.j2" as m with context %}{{ m.twice("x.html") }}|{{ m.link(page) }}',
    '{% for root in ["loop/"] %}{% import "_m.html.j2" as m with context %}{{ m.link(page) }}{% endfor %}',  # a name of the loop's own
    '{% import "_m.html.j2" as m %}{{ m.link is defined }}',  # without context: Jinja2's own module
])
def test_imported_macros_give_what_jinja_gives_on_every_page(tmp_path, files, page):
    contexts = [{"root": "../", "t": _WORDS_NL, "page": "a.html"}, {"root": "../", "t": _WORDS_NL, "page": "b.html"},
                {"root": "", "t": _WORDS_NL, "page": "c.html"}, {"root": "", "t": _WORDS_EN, "page": "d.html"},
                {"root": "../", "t": dict(_WORDS_NL), "page": "e.html"}]
    ours, plain = _pages(tmp_path, {**files, "page.html.j2": page}, contexts)
    assert ours == plain


def test_a_module_of_macros_is_made_again_only_when_what_it_reads_changed(tmp_path, monkeypatch):
    made = []
    real = jinja2.Template.make_module
    monkeypatch.setattr(jinja2.Template, "make_module", lambda self, *a, **k: made.append(self.name) or real(self, *a, **k))
    contexts = [{"root": "../", "t": _WORDS_NL, "page": p} for p in ("a", "b", "c")] + [{"root": "", "t": _WORDS_NL, "page": "d"}]
    ours, plain = _pages(tmp_path, {"_m.html.j2": _MACROS, "page.html.j2": '{% import "_m.html.j2" as m with context %}{{ m.link(page) }}'},
                         contexts)
    assert ours == plain
    assert made.count("_m.html.j2") == 2 + len(contexts)  # kb's: the first page and the one with another root; Jinja2's: every page


def test_a_missing_key_is_still_an_error(tmp_path):
    with pytest.raises(jinja2.UndefinedError, match="has no attribute 'name'"):
        make_env([tmp_path]).from_string("{{ d.name }}").render(d={})


# -- compiled templates kept between runs ---------------------------------------------------------------


@pytest.fixture
def cached(monkeypatch, tmp_path):
    """The compiled-template cache switched on (conftest switches kb's caches off), in a tmp user cache."""
    monkeypatch.delenv("KB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    return tmp_path / "user-cache" / "kb" / "templates"


def _page(folder, text: str | None = None) -> str:
    if text is not None:
        (folder / "page.html.j2").write_text(text, encoding="utf-8")
    return make_env([folder]).get_template("page.html.j2").render(name="<b>")


def test_compiled_templates_are_kept_and_reused(cached, tmp_path, monkeypatch):
    folder = tmp_path / "templates"
    folder.mkdir()
    first = _page(folder, "Hallo {{ name }}!")
    kept = sorted(cached.iterdir())
    assert first == "Hallo &lt;b&gt;!" and len(kept) == 1
    compiled = []
    real = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile", lambda self, *a, **k: compiled.append(a) or real(self, *a, **k))
    assert _page(folder) == first
    assert compiled == []  # read from the cache, not compiled again
    assert _page(folder, "Dag {{ name }}.") == "Dag &lt;b&gt;."  # a changed source is compiled again
    assert len(compiled) == 1


def test_a_damaged_or_foreign_compiled_template_is_not_used(cached, tmp_path, monkeypatch):
    import kb

    folder = tmp_path / "templates"
    folder.mkdir()
    expected = _page(folder, "Hallo {{ name }}!")
    (kept,) = cached.iterdir()
    good = kept.read_bytes()
    compiled = []
    real = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile", lambda self, *a, **k: compiled.append(a) or real(self, *a, **k))
    kept.write_bytes(good[:40])  # truncated
    assert _page(folder) == expected and len(compiled) == 1
    monkeypatch.setattr(kb, "__version__", kb.__version__ + ".other")  # another kb: its own compilation
    assert _page(folder) == expected and len(compiled) == 2
    monkeypatch.setattr(jinja2, "__version__", jinja2.__version__ + ".other")  # another Jinja2 compiler
    assert _page(folder) == expected and len(compiled) == 3
    assert len(list(cached.iterdir())) == 1  # one file per template: the newest compilation


def test_compiled_code_someone_else_wrote_is_never_run(cached, tmp_path, monkeypatch):
    """Loading compiled code runs it: a file planted in the folder (which someone else may be able to
    write) is not loaded unless it is signed with this user's cache key."""
    import marshal

    folder = tmp_path / "templates"
    folder.mkdir()
    _page(folder, "Hallo {{ name }}!")
    (kept,) = cached.iterdir()
    marker = tmp_path / "ran"
    planted = compile(f"open({str(marker)!r}, 'w').close()", "planted", "exec")
    kept.write_bytes(kept.read_bytes()[:100] + marshal.dumps(planted))  # the signature no longer matches
    assert _page(folder) == "Hallo &lt;b&gt;!"
    assert not marker.exists()


def test_a_cache_key_others_can_read_or_write_keys_nothing(cached, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    _page(folder, "Hallo {{ name }}!")
    key = tmp_path / "user-cache" / "kb" / "cache-key"
    key.chmod(0o644)
    from kb.cache import _cache_key

    assert _cache_key() is None
    for kept in cached.iterdir():
        kept.unlink()
    assert _page(folder) == "Hallo &lt;b&gt;!"
    assert list(cached.iterdir()) == []  # no key, no compiled-template cache
    key.chmod(0o600)
    assert _cache_key() is not None


def test_no_compiled_templates_without_the_cache_or_a_writable_folder(monkeypatch, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.setenv("KB_CACHE", "0")
    assert _page(folder, "Hallo {{ name }}!") == "Hallo &lt;b&gt;!"
    assert not (tmp_path / "user-cache").exists()
    monkeypatch.delenv("KB_CACHE")
    (tmp_path / "user-cache").write_text("a file where the folder should be", encoding="utf-8")
    assert _page(folder) == "Hallo &lt;b&gt;!"


def test_a_site_from_compiled_templates_is_the_same(cached, tmp_path, monkeypatch):
    import hashlib

    from conftest import copy_repo_kb

    from kb.graph import build_graph
    from kb.load import load_kb
    from kb.site import build_site

    root = copy_repo_kb(tmp_path / "kb")

    def site(out, cache: str) -> dict[str, str]:
        monkeypatch.setenv("KB_CACHE", cache)
        kb = load_kb(root)
        build_site(kb, build_graph(kb), out)
        return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*.html")}

    plain = site(tmp_path / "plain", "0")  # the pages (the manifest records more with the cache on)
    assert not cached.exists()
    first = site(tmp_path / "first", "1")
    assert sorted(cached.iterdir())  # compiled and kept
    assert plain == first == site(tmp_path / "again", "1")


# -- overrides that cannot be read ------------------------------------------------------------

def _own_claim_template(mini_kb) -> None:
    own = mini_kb / "templates" / "site"
    own.mkdir(parents=True)
    (own / "claim.html.j2").write_text('{% extends "builtin/site/claim.html.j2" %}\n', encoding="utf-8")


def _failed_build(mini_kb, run_kb) -> str:
    """The last line of a ``kb build`` that must fail with one line, no traceback and no site."""
    code, out, err = run_kb(mini_kb, "build", "-o", "site")
    assert code == 1 and "Traceback" not in err and not (mini_kb / "site").exists(), err
    return err.splitlines()[-1]


def test_a_template_folder_that_cannot_be_searched_is_named(mini_kb, run_kb, monkeypatch):
    """Jinja2 took an override it could not see (templates/site without read access) for one that is
    not there and built the site from the built-in template without a word."""
    _own_claim_template(mini_kb)
    real_stat, real_scandir = os.stat, os.scandir
    blocked = os.path.join("templates", "site")

    def stat(path, *args, **kwargs):  # as chmod 000 on templates/site does for anyone but root: no file in it is seen
        if os.fspath(path).startswith(blocked + os.sep):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    def scandir(path="."):  # nor is the folder listed
        if not isinstance(path, int) and os.path.normpath(os.fspath(path)).endswith(blocked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "scandir", scandir)
    assert _failed_build(mini_kb, run_kb) == ("kb: error: cannot look for 'site/home.html.j2' in templates/site/: permission denied; "
                                    "give yourself access to the folder (chmod u+rx), or remove it to use the built-in files")


def test_a_template_that_cannot_be_read_is_named(mini_kb, run_kb, monkeypatch):
    import jinja2.loaders

    _own_claim_template(mini_kb)

    def unreadable(filename, *args, **kwargs):  # as chmod 000 on the file does for anyone but root
        if os.fspath(filename).endswith(os.path.join("templates", "site", "claim.html.j2")):
            raise PermissionError(13, "Permission denied", filename)
        return open(filename, *args, **kwargs)

    monkeypatch.setattr(jinja2.loaders, "open", unreadable, raising=False)  # what Jinja2's FileSystemLoader opens files with
    assert _failed_build(mini_kb, run_kb) == (f"kb: error: cannot read {os.path.join('templates', 'site', 'claim.html.j2')}: Permission denied; "
                                    "give yourself read access to it (chmod u+r), or remove it to use the built-in one")


def test_an_audit_override_that_cannot_be_read_stops_the_build(mini_kb, run_kb, monkeypatch):
    """The build asks whether there is an audit template; one that is there but cannot be read counted as
    none, and the site was built without its audit page (exit 0)."""
    import jinja2.loaders

    (mini_kb / "templates").mkdir()
    (mini_kb / "templates" / "audit.html.j2").write_text('{% extends "builtin/audit.html.j2" %}\n', encoding="utf-8")

    def unreadable(filename, *args, **kwargs):  # as chmod 000 on the file does for anyone but root
        if os.path.normpath(os.fspath(filename)) == os.path.join("templates", "audit.html.j2"):  # the override, not the built-in one
            raise PermissionError(13, "Permission denied", filename)
        return open(filename, *args, **kwargs)

    monkeypatch.setattr(jinja2.loaders, "open", unreadable, raising=False)
    assert _failed_build(mini_kb, run_kb).startswith(f"kb: error: cannot read {os.path.join('templates', 'audit.html.j2')}: Permission denied")


def test_an_override_naming_a_template_that_is_not_there_says_not_found(mini_kb, run_kb):
    """Jinja2's TemplateNotFound is an OSError too: it was reported as a file that cannot be read, with a
    chmod hint, for a file that does not exist."""
    own = mini_kb / "templates" / "site"
    own.mkdir(parents=True)
    (own / "claim.html.j2").write_text('{% extends "nothere.html.j2" %}\n', encoding="utf-8")
    line = _failed_build(mini_kb, run_kb)
    assert line.startswith("kb: error: template 'nothere.html.j2' not found; search path: "), line
    assert "chmod" not in line
