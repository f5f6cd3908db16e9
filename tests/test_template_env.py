"""kb.render's template environment: ``x.y`` on a dict is looked up quicker than Jinja2 does it, with the
same result in every case (an attribute of the dict type wins over a key of the same name; a missing
key is undefined, which kb's strict environment reports)."""

from __future__ import annotations

import collections

import jinja2
import pytest

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


def test_a_missing_key_is_still_an_error(tmp_path):
    with pytest.raises(jinja2.UndefinedError, match="has no attribute 'name'"):
        make_env([tmp_path]).from_string("{{ d.name }}").render(d={})
