"""Shared test helpers: a minimal valid knowledge base, golden files, and running the CLI in-process.

``pytest --update-golden`` rewrites expected files (tests/bad/*/expected.txt and friends). A missing
expected file is always written, and the test that needed it fails, so that a new case is reviewed.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# The two references are real publications, copied from this repository's references/ (checked there).
# REAL_ENTRIES is shared with tests/test_site.py, which adds an entry full of markup.
REAL_ENTRIES = """\
@article{geneen2017,
  author = {Geneen, Louise J. and Moore, R. Andrew and Clarke, Clare and Martin, Denis and Colvin, Lesley A. and Smith, Blair H.},
  title = {Physical activity and exercise for chronic pain in adults: an overview of {Cochrane} Reviews},
  journal = {Cochrane Database of Systematic Reviews},
  year = {2017},
  number = {4},
  eid = {CD011279},
  doi = {10.1002/14651858.cd011279.pub3},
  pmid = {28436583},
  studytype = {cochrane-overview},
  verified = {true}
}

@article{lauersen2014,
  author = {Lauersen, Jeppe Bo and Bertelsen, Ditte Marie and Andersen, Lars Bo},
  title = {The effectiveness of exercise interventions to prevent sports injuries: a systematic review and meta-analysis of randomised controlled trials},
  journal = {British Journal of Sports Medicine},
  year = {2014},
  volume = {48},
  number = {11},
  pages = {871--877},
  doi = {10.1136/bjsports-2013-092538},
  pmid = {24100287},
  studytype = {systematic-review-meta-analysis},
  verified = {true}
}
"""
MINI_BIB = "% two real works, as in this repository's references/krachttraining.bib (fields shortened)\n" + REAL_ENTRIES

MINI_ARTICLE = """\
---
title: "Een testartikel"
publisher: Testpraktijk
language: nl
---

## Pijn {#pijn}

Oefentherapie met weerstand vermindert pijn bij chronische klachten (Geneen et al.; 2017).

## Blessures {#blessures}

Preventieprogramma's met krachttraining verminderen sportblessures.

## Conclusie {#conclusie}

Kortom: krachttraining helpt bij pijn en blessures.
"""

MINI_CLAIMS = {
    "pijn-oefentherapie": """\
id: pijn-oefentherapie
article: mini
section: pijn
kind: empirical-finding
text:
  nl: "Oefentherapie met weerstand vermindert pijn bij chronische klachten (Geneen et al.; 2017)."
  en: "Exercise therapy with resistance reduces pain in chronic complaints (Geneen et al.; 2017)."
tags: [pain]
evidence:
  - ref: geneen2017
    relation: partially-supports
    cited_in_article: true
    locator: "Authors' conclusions"
    found: "Physical activity and exercise may improve pain severity; evidence of low quality."
    certainty: low
verdict: overstated
verdict_reason: "The overview covers exercise in general and rates the evidence low."
status: reviewed
""",
    "blessures-preventie": """\
id: blessures-preventie
article: mini
section: blessures
kind: empirical-finding
text:
  nl: "Preventieprogramma's met krachttraining verminderen sportblessures."
  en: "Prevention programmes built on strength training reduce sports injuries."
evidence:
  - ref: lauersen2014
    relation: supports
    cited_in_article: false
    locator: "Results"
    found: "Strength training programmes reduced sports injuries (RR 0.315)."
    certainty: not-graded
verdict: uncited
verdict_reason: "The article cites nothing; a reviewer added a meta-analysis."
status: reviewed
""",
    "conclusie": """\
id: conclusie
article: mini
section: conclusie
kind: summary
text:
  nl: "krachttraining helpt bij pijn en blessures"
  en: "strength training helps with pain and injuries"
derived_from: [pijn-oefentherapie, blessures-preventie]
evidence: []
verdict: overstated
status: draft
""",
}

MINI_KB_YAML = """\
title: Mini knowledge base
languages: [nl, en]
style: unsrt
"""


@pytest.fixture(autouse=True, scope="session")
def _no_writes_outside_tmp(tmp_path_factory):
    """Tests write only under pytest's tmp folders, never into the repository or the user's home.

    ``KB_CACHE=0``: loading this repository's own knowledge base (or tests/cases/*) would otherwise
    leave a ``.kb-cache/`` folder in the checkout; tests/test_cache.py and the cache tests in
    test_load.py switch it back on for knowledge bases in tmp folders. ``XDG_CACHE_HOME`` and
    ``XDG_CONFIG_HOME``: kb's cache key (``~/.cache/kb/cache-key``) and Chromium's crash-report and
    dconf folders go to a tmp folder instead of ``~/.cache`` and ``~/.config``.
    """
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KB_CACHE", "0")
        patch.setenv("XDG_CACHE_HOME", str(home / "cache"))
        patch.setenv("XDG_CONFIG_HOME", str(home / "config"))
        yield


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite expected (golden) files from the actual output")


@pytest.fixture
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


def make_kb(root: Path, *, claims: dict[str, str] | None = None, bib: str | None = None, article: str | None = None,
            kb_yaml: str | None = None, article_id: str = "mini") -> Path:
    """Write a small, valid knowledge base to ``root`` (``kb check`` is clean on it) and return ``root``.
    The keywords replace one part each (the article is written as ``articles/<article_id>.md``)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "kb.yaml").write_text(MINI_KB_YAML if kb_yaml is None else kb_yaml, encoding="utf-8")
    (root / "articles").mkdir(exist_ok=True)
    (root / "articles" / f"{article_id}.md").write_text(MINI_ARTICLE if article is None else article, encoding="utf-8")
    (root / "claims").mkdir(exist_ok=True)
    for claim_id, text in (MINI_CLAIMS if claims is None else claims).items():
        (root / "claims" / f"{claim_id}.yaml").write_text(text, encoding="utf-8")
    (root / "references").mkdir(exist_ok=True)
    (root / "references" / "refs.bib").write_text(MINI_BIB if bib is None else bib, encoding="utf-8")
    return root


@pytest.fixture
def mini_kb(tmp_path) -> Path:
    """A fresh copy of the minimal valid knowledge base."""
    return make_kb(tmp_path / "kb")


@pytest.fixture
def run_kb(capsys, monkeypatch):
    """Run ``kb ARGS`` in-process in folder ``cwd``; returns (exit code, stdout, stderr)."""
    from kb.cli import main

    def run(cwd: Path, *args: str) -> tuple[int, str, str]:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


def check_golden(path: Path, actual: str, update: bool) -> None:
    """Compare ``actual`` with the golden file; write it on --update-golden or when it is missing."""
    if update or not path.exists():
        existed = path.exists()
        path.write_text(actual, encoding="utf-8")
        if not existed and not update:
            pytest.fail(f"{path} did not exist; it was written: review it and run the tests again")
        return
    expected = path.read_text(encoding="utf-8")
    if expected != actual:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), f"{path} (expected)", "actual"))
        pytest.fail(f"output differs from {path} (run pytest --update-golden to accept):\n{diff}")


def copy_tree(source: Path, target: Path) -> None:
    """Copy a folder's files over another, keeping symlinks as symlinks."""
    for item in sorted(source.rglob("*")):
        dest = target / item.relative_to(source)
        if item.is_symlink():
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.unlink(missing_ok=True)
            dest.symlink_to(item.readlink())
        elif item.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item, dest)


if sys.version_info < (3, 11):  # pragma: no cover
    raise RuntimeError("kb's tests need Python 3.11+")


def damage_file(path: Path, how: str, garbage: bytes = b"\x80\x05not a cache file at all") -> None:
    """Damage a cache file the way a crash, a bad disk or a stray tool would: ``garbage`` (other bytes),
    ``truncated``, ``flipped`` (one byte in the middle), ``empty``, ``missing`` or ``directory``."""
    blob = path.read_bytes() if path.is_file() else b""
    if how == "garbage":
        path.write_bytes(garbage * 50)
    elif how == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    elif how == "flipped":
        middle = len(blob) // 2
        path.write_bytes(blob[:middle] + bytes([blob[middle] ^ 0xFF]) + blob[middle + 1:])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "missing":
        path.unlink()
    elif how == "directory":
        path.unlink()
        path.mkdir()
    else:
        raise ValueError(how)


def copy_repo_kb(dest: Path) -> Path:
    """A copy of this repository's own knowledge base (kb.yaml, claims, articles, references) in ``dest``."""
    repo = Path(__file__).resolve().parent.parent
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("claims", "references", "articles"):
        shutil.copytree(repo / name, dest / name)
    shutil.copy(repo / "kb.yaml", dest / "kb.yaml")
    return dest


_CLOCK = [int(time.time()) - 100_000]


def age(*paths: Path) -> None:
    """Give each file (in a folder: every file under it) a modification time of its own, in the past and
    one second after the last one given: a file changed within the last second is never trusted by its
    time alone (kb/cache.py, "racy"), and an edit must show in size or time."""
    for path in paths:
        for file in (sorted(path.rglob("*")) if path.is_dir() else [path]):
            if file.is_file() and ".kb-cache" not in file.parts:
                _CLOCK[0] += 1
                os.utime(file, ns=(_CLOCK[0] * 10**9, _CLOCK[0] * 10**9))


def generated_kb(dest: Path, *, claims: int, refs: int, seed: int) -> Path:
    """A synthetic knowledge base made by benchmarks/generate.py in ``dest``, every file aged (``age``)."""
    subprocess.run([sys.executable, str(Path(__file__).resolve().parent.parent / "benchmarks" / "generate.py"),
                    "--claims", str(claims), "--refs", str(refs), "--seed", str(seed), "-o", str(dest)], check=True, capture_output=True)
    age(dest)
    return dest


def benchmark_script(name: str):
    """benchmarks/<name>.py loaded as a module (the benchmarks are scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
