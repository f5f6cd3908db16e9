"""The public API is exactly what kb.__all__ says."""

import kb


def test_all_names_exist():
    for name in kb.__all__:
        assert hasattr(kb, name), name


def test_public_api_is_documented_set():
    public = {n for n in dir(kb) if not n.startswith("_") and not isinstance(getattr(kb, n), type(kb))}
    assert public <= set(kb.__all__) | {"annotations"}


def test_import_kb_stays_light():
    """`kb check` starts fast: importing kb must not pull in networkx or Jinja2 (they load on first use)."""
    import subprocess
    import sys

    code = "import sys, kb; print('networkx' in sys.modules, 'jinja2' in sys.modules); kb.build_graph; print('networkx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "True"]


def test_pipeline_through_the_public_api(tmp_path):
    """load -> validate -> graph -> site, using only names from kb.__all__, on this repository's knowledge base."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    base = kb.load_kb(root)
    assert [d for d in kb.validate(base) if d.severity is kb.Severity.ERROR] == []
    g = kb.build_graph(base)
    assert "conclusie-pijn" in kb.impact(g, "geneen2017").indirect
    kb.build_site(base, g, tmp_path / "site")
    assert (tmp_path / "site" / "index.html").is_file()
    assert len(list((tmp_path / "site" / "claims").glob("*.html"))) >= len(base.claims)
