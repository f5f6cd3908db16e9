"""The public API is exactly what kb.__all__ says."""

import kb


def test_all_names_exist():
    for name in kb.__all__:
        assert hasattr(kb, name), name


def test_public_api_is_documented_set():
    import types

    public = {n for n in dir(kb) if not n.startswith("_") and not isinstance(getattr(kb, n), types.ModuleType)}  # submodules aside
    assert public <= set(kb.__all__) | {"annotations"}


def test_import_kb_imports_nothing_and_kb_validate_is_the_function():
    """`import kb` imports none of its modules (the kb command takes Ctrl-C without a traceback from
    milliseconds on: kb/cli run); kb.validate stays the function once the module kb.validate is loaded."""
    import subprocess
    import sys

    code = ("import sys, kb; print(sorted(m for m in sys.modules if m.startswith('kb.'))); import kb.validate, kb.cli; "
            "print(callable(kb.validate), kb.validate is sys.modules['kb.validate'].validate)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:2] == ["[]", "True True"]


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


def test_ctrl_c_while_kb_reads_its_command_modules_ends_without_a_traceback():
    """Ctrl-C in the first tenth of a second (kb.cli building its parser imports every command's module,
    and they import the pipeline) printed Python's traceback; it ends as any other interrupt does."""
    import subprocess
    import sys

    code = ("import kb.cli as cli\n"
            "def parser():\n    raise KeyboardInterrupt\n"
            "cli.build_parser = parser\ncli.run()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "kb: interrupted\n")
