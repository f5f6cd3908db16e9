"""A verdict's dot differs from the others in shape as well as colour (WCAG 1.4.1: colour is not the only
way to tell them apart), and the article's legend shows each dot next to its verdict."""

from __future__ import annotations

import re

from kb.model import VERDICTS
from kb.resources import resource_dir

from conftest import make_kb


def _shape(css: str, verdict: str) -> tuple:
    """What the style sheet says of the shape of a verdict's dot: the declarations of every rule whose
    selector names ``.dot.v-<verdict>``, minus its colour."""
    declarations = {}
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        if any(s.strip() == f".dot.v-{verdict}" for s in selectors.split(",")):
            for name, value in re.findall(r"([a-z-]+)\s*:\s*([^;]+)", body):
                declarations[name] = value.strip()
    return tuple(sorted(declarations.items()))


def test_every_verdict_dot_has_a_shape_of_its_own():
    css = (resource_dir("templates") / "assets" / "site.css").read_text(encoding="utf-8")
    shapes = {verdict: _shape(css, verdict) for verdict in VERDICTS}
    assert len(set(shapes.values())) == len(VERDICTS), shapes


def test_the_legend_shows_each_verdicts_dot(tmp_path, run_kb):
    root = make_kb(tmp_path / "kb")
    code, _out, err = run_kb(root, "-q", "build")
    assert code == 0, err
    page = (root / "build" / "article" / "mini.html").read_text(encoding="utf-8")
    legend = page[page.index('<section class="legend"'):page.index("</section>", page.index('<section class="legend"'))]
    items = re.findall(r'<li><span class="dot v-([a-z-]+)" aria-hidden="true"></span><span class="claim-sample v-([a-z-]+)">', legend)
    assert items and all(dot == sample for dot, sample in items), legend
