"""`kb check` end to end: the bad-input corpus (tests/bad/*) and the options of the command.

Each folder tests/bad/<case>/ describes one broken knowledge base:

* ``files/``: files laid over the minimal valid knowledge base of conftest.make_kb (same paths);
* ``case.toml`` (optional): ``args`` for ``kb check``, ``base = false`` to start from an empty folder,
  ``remove`` (paths to delete), ``[symlinks]`` (path = target), ``[generate."path"]`` (``head``,
  ``line``, ``repeat``: for files too big to keep in the repository), ``must_not_exist`` (paths that
  must not appear: a refused YAML tag must never run);
* ``expected.txt``: ``exit: N`` then the exact standard error of ``kb check``.
"""

from __future__ import annotations

import json
import os
import shutil
import tomllib
import urllib.parse
from pathlib import Path

import pytest

from conftest import TESTS, check_golden, copy_tree, make_kb

BAD = TESTS / "bad"
CASES = sorted(p for p in BAD.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def build_case(case: Path, tmp_path: Path) -> tuple[Path, dict]:
    spec = tomllib.loads((case / "case.toml").read_text(encoding="utf-8")) if (case / "case.toml").exists() else {}
    root = tmp_path / "kb"
    if spec.get("base", True):
        make_kb(root)
    else:
        root.mkdir()
    for rel in spec.get("remove", []):
        target = root / rel
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    if (case / "files").is_dir():
        copy_tree(case / "files", root)
    for rel, target in spec.get("symlinks", {}).items():
        link = root / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    for rel, name in spec.get("rename", {}).items():  # the new name %-escaped: it may be bytes that are not UTF-8
        target = os.path.join(os.fsencode(root), urllib.parse.unquote_to_bytes(name))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(root / rel, target)
    for rel, gen in spec.get("generate", {}).items():
        for i in range(gen.get("count", 1)):  # with count: that many files, {i} and {next} (i + 1) filled in
            fill = (lambda text: text.format(i=i, next=i + 1)) if "count" in gen else (lambda text: text)
            path = root / fill(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(fill(gen.get("head", "")) + fill(gen.get("line", "")) * gen.get("repeat", 0), encoding="utf-8")
    return root, spec


def test_corpus_is_big_enough():
    assert len(CASES) >= 30, [c.name for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_bad_input(case, tmp_path, run_kb, update_golden):
    root, spec = build_case(case, tmp_path)
    code, out, err = run_kb(root, "check", *spec.get("args", []))
    assert "Traceback" not in err
    assert out == ""
    check_golden(case / "expected.txt", f"exit: {code}\n{err}", update_golden)
    assert code in (0, 1)
    for rel in spec.get("must_not_exist", []):
        assert not (root / rel).exists(), f"{rel} was created: a YAML tag was constructed"
        assert not (Path.cwd() / rel).exists()


def test_every_case_reports_a_problem_with_a_location():
    """A corpus case whose expected output has no diagnostic line would test nothing."""
    for case in CASES:
        text = (case / "expected.txt").read_text(encoding="utf-8")
        lines = text.splitlines()
        assert lines[0] in ("exit: 0", "exit: 1"), case.name
        problems = [line for line in lines[1:] if ": error: " in line or ": warning: " in line]
        assert problems, f"{case.name}: no diagnostic in expected.txt"


# --- the command's options -------------------------------------------------------------------------


def test_clean_kb(mini_kb, run_kb):
    code, out, err = run_kb(mini_kb, "check")
    assert (code, out, err) == (0, "", "ok: 3 claims, 2 references, 1 article(s); no problems\n")


def test_clean_kb_quiet(mini_kb, run_kb):
    assert run_kb(mini_kb, "-q", "check") == (0, "", "")


def test_kb_option_names_the_folder(mini_kb, run_kb, tmp_path):
    code, out, err = run_kb(tmp_path, "--kb", "kb", "check")
    assert (code, err) == (0, "ok: 3 claims, 2 references, 1 article(s); no problems\n")


def _add_unused_reference(root: Path) -> None:
    bib = root / "references" / "refs.bib"
    bib.write_text(bib.read_text(encoding="utf-8").replace("@article{lauersen2014", "@article{lauersen2014x"), encoding="utf-8")
    claim = root / "claims" / "blessures-preventie.yaml"
    claim.write_text(claim.read_text(encoding="utf-8").replace("ref: lauersen2014", "ref: lauersen2014x"), encoding="utf-8")
    (root / "references" / "more.bib").write_text(
        "@article{seguin2003,\n  author = {Seguin, Rebecca and Nelson, Miriam E.},\n"
        "  title = {The benefits of strength training for older adults},\n  journal = {American Journal of Preventive Medicine},\n"
        "  year = {2003},\n  doi = {10.1016/s0749-3797(03)00177-6}\n}\n", encoding="utf-8")


UNUSED = ("references/more.bib:1:1: warning: reference 'seguin2003' is not cited by any claim; "
          "link it from a claim's evidence or remove it [unused-ref]\n")


def test_warnings_only_exit_0(mini_kb, run_kb):
    _add_unused_reference(mini_kb)
    assert run_kb(mini_kb, "check") == (0, "", UNUSED + "0 errors, 1 warning\n")


def test_strict_makes_warnings_fail(mini_kb, run_kb):
    _add_unused_reference(mini_kb)
    assert run_kb(mini_kb, "check", "--strict") == (1, "", UNUSED + "0 errors, 1 warning\n")


def test_ignore_drops_a_code(mini_kb, run_kb):
    _add_unused_reference(mini_kb)
    code, out, err = run_kb(mini_kb, "check", "--strict", "--ignore", "unused-ref")
    assert (code, err) == (0, "ok: 3 claims, 3 references, 1 article(s); no problems\n")


def test_ignore_unknown_code_is_a_usage_error(mini_kb, run_kb):
    code, out, err = run_kb(mini_kb, "check", "--ignore", "unused-reff")
    assert code == 2
    assert err.splitlines()[-1] == ("kb check: error: argument --ignore: unknown diagnostic code 'unused-reff'; "
                                    "did you mean 'unused-ref'? (the codes: docs/errors.md)")


def test_quiet_prints_only_errors(mini_kb, run_kb):
    _add_unused_reference(mini_kb)
    claim = mini_kb / "claims" / "conclusie.yaml"
    claim.write_text(claim.read_text(encoding="utf-8").replace("blessures-preventie]", "blessures-preventi]"), encoding="utf-8")
    code, out, err = run_kb(mini_kb, "-q", "check")
    assert (code, out) == (1, "")
    assert err == ("claims/conclusie.yaml:8:36: error: derived_from names unknown claim 'blessures-preventi'; "
                   "did you mean 'blessures-preventie'? [unknown-claim]\n")


def test_json_format(mini_kb, run_kb):
    _add_unused_reference(mini_kb)
    code, out, err = run_kb(mini_kb, "check", "--format", "json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report == {
        "ok": True,
        "summary": "0 errors, 1 warning",
        "errors": 0,
        "warnings": 1,
        "claims": 3,
        "references": 3,
        "diagnostics": [{
            "path": "references/more.bib", "line": 1, "column": 1, "severity": "warning", "code": "unused-ref",
            "message": "reference 'seguin2003' is not cited by any claim",
            "hint": "link it from a claim's evidence or remove it",
        }],
    }


def test_json_format_strict_fails(mini_kb, run_kb):
    _add_unused_reference(mini_kb)
    code, out, err = run_kb(mini_kb, "check", "--format", "json", "--strict")
    assert code == 1
    assert json.loads(out)["ok"] is False


def test_json_format_on_a_load_error(tmp_path, run_kb):
    """A knowledge base that cannot be read at all still gives JSON on stdout with --format json."""
    (tmp_path / "claims").mkdir()
    code, out, err = run_kb(tmp_path, "check", "--format", "json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert report["diagnostics"] == [{
        "path": "", "line": 0, "column": 0, "severity": "error", "code": "load-error",
        "message": "folder 'references' is missing: a knowledge base needs claims/ and references/ folders",
        "hint": "create it, or pass --kb DIR to name the knowledge-base folder",
    }]


def test_usage_errors_exit_2(mini_kb, run_kb):
    code, out, err = run_kb(mini_kb, "check", "--format", "xml")
    assert code == 2
    assert "invalid choice: 'xml'" in err
    code, out, err = run_kb(mini_kb, "frobnicate")
    assert code == 2


def test_missing_kb_folder(tmp_path, run_kb):
    code, out, err = run_kb(tmp_path, "--kb", "nowhere", "check")
    assert (code, out) == (1, "")
    assert err == "kb: error: knowledge base folder 'nowhere' does not exist; pass --kb DIR to name the knowledge-base folder\n"


def test_installed_script_runs(mini_kb):
    """One subprocess smoke test: `python -m kb` exits 1 with a one-line error and no traceback."""
    import subprocess
    import sys

    (mini_kb / "claims" / "bad.yaml").write_text("id: bad\n\tkind: x\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "kb", "check"], cwd=mini_kb, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0].startswith("claims/bad.yaml:2:1: error: ")


def test_this_repository_checks_clean(run_kb):
    """The repository root is itself a knowledge base (issue 2): `kb check` exits 0 on it."""
    code, out, err = run_kb(TESTS.parent, "check")
    assert " error: " not in err, err
    assert code == 0, err
    assert "Traceback" not in err


# Commands that read the whole knowledge base; each must meet every bad input with a clean exit.
READING_COMMANDS = (["list"], ["show", "conclusie"], ["export", "--format", "json"], ["stats"], ["audit"], ["build", "-o", "site"])


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_every_command_survives_bad_input(case, tmp_path, run_kb):
    root, spec = build_case(case, tmp_path)
    for args in READING_COMMANDS:
        code, out, err = run_kb(root, *args)
        assert "Traceback" not in err and "internal error" not in err, (args, err)
        assert code in (0, 1), (args, code, err)
        if code == 1:
            assert err.strip(), (args, "exit 1 without a message")


def test_corpus_covers_every_check_code():
    """Every code `kb check` can report has at least one corpus case with its whole expected line."""
    import re

    from kb.errors import CODES

    other_commands = {"import-skipped", "unresolved-citation", "ambiguous-citation", "retraction-nature"}  # kb import/extract/retractions
    seen = set()
    for case in CASES:
        seen |= set(re.findall(r"\[([a-z0-9-]+)\]$", (case / "expected.txt").read_text(encoding="utf-8"), flags=re.MULTILINE))
    assert sorted(set(CODES) - other_commands - seen) == []


def test_golden_helper(tmp_path):
    """A missing expected file is written and the test fails; a difference fails with a diff; --update-golden rewrites."""
    from conftest import check_golden

    path = tmp_path / "expected.txt"
    with pytest.raises(pytest.fail.Exception, match="did not exist; it was written"):
        check_golden(path, "exit: 0\n", update=False)
    assert path.read_text(encoding="utf-8") == "exit: 0\n"
    check_golden(path, "exit: 0\n", update=False)
    with pytest.raises(pytest.fail.Exception, match=r"(?s)-exit: 0.*\+exit: 1"):
        check_golden(path, "exit: 1\n", update=False)
    check_golden(path, "exit: 1\n", update=True)
    assert path.read_text(encoding="utf-8") == "exit: 1\n"
