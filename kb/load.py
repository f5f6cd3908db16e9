"""Stage 1, load: a knowledge-base folder -> KnowledgeBase (+ load diagnostics).

Per-file problems (syntax, schema, BibTeX) become Diagnostics and loading goes on; only a root
that cannot be read at all raises LoadError. Cross-file checks belong to ``validate``.

With the cache on (kb/cache.py), ``load_kb`` first walks the folders once (``cache.scan_inputs``) and
compares the walk with the index of the last run: nothing changed -> a lazy knowledge base from the
index; only claim files changed -> ``_load_changes`` reads just those (the decision what may be handled
so is ``_claim_file_kind`` plus the rules in ``_load_changes``); otherwise the full load ``_load_kb``,
which lists claim files from the same walk. Which file owns a claim id is decided in one place,
``_pick_first``, for both paths.
"""

from __future__ import annotations

import bisect
import dataclasses
import marshal
import os
import stat
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, Callable


from .article import parse_article
from .cache import JOURNAL_MERGE, Positions, Scan, decode as decode_diagnostic, encode, lazy_kb, remember_kb, scan_inputs, start_loading, write_in_background, write_index
from .errors import Diagnostic, LoadError, Location, NotUtf8, Severity, bom_warning, decode_utf8, did_you_mean
from .inputs import read_input
from .model import Claim, Config, Evidence, KnowledgeBase, Text
from .schema import check_document, ecma_search, load_schema
from .stylenames import FIXED_STYLES
from .yamlsafe import MAX_BYTES, YamlProblem, decode, location, parse_yaml

__all__ = ["load_kb", "focus", "reachable", "claim_record", "load_claim_text", "read_yaml_file", "CLAIM_SUFFIXES"]

CLAIM_SUFFIXES = (".yaml", ".yml")


def read_yaml_file(path: Path, rel: str) -> tuple[Any, dict, list[Diagnostic]]:
    """Read and parse one YAML file. Returns (data, positions, diagnostics); data is None on failure."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return None, {}, [Diagnostic(Severity.ERROR, "unreadable", "not a regular file", Location(rel), "remove it or replace it with a file")]
        if info.st_size > MAX_BYTES:
            return None, {}, [Diagnostic(Severity.ERROR, "file-too-large", f"file is {info.st_size:,} bytes; the limit is {MAX_BYTES:,}",
                                         Location(rel), "a claim file holds one claim; split it or shorten it")]
        raw = read_input(path, rel)
    except OSError as exc:
        return None, {}, [Diagnostic(Severity.ERROR, "unreadable", f"cannot read file: {exc.strerror or exc}", Location(rel), getattr(exc, "hint", None))]
    return _parse_yaml_bytes(raw, rel)


def _parse_yaml_bytes(raw: bytes, rel: str) -> tuple[Any, dict, list[Diagnostic]]:
    diagnostics = []
    try:
        text, bom = decode(raw)
        if bom:
            diagnostics.append(bom_warning(rel))
        data, positions = parse_yaml(text)
    except YamlProblem as p:
        return None, {}, [Diagnostic(Severity.ERROR, p.code, p.message, Location(rel, p.line, p.column), p.hint)]
    return data, positions, diagnostics


def load_claim_file(path: str, rel: str, stem: str, raw: bytes | None = None) -> tuple[Claim | None, list[Diagnostic]]:
    """Load one claim file: its Claim (or None) and its own diagnostics. ``raw``: its bytes, if already read."""
    data, positions, problems = read_yaml_file(Path(path), rel) if raw is None else _parse_yaml_bytes(raw, rel)
    if data is None and problems:
        return None, problems
    claim, more = _claim_from_data(data, positions, rel, stem)
    return claim, problems + more


def load_claim_text(text: str, rel: str = "<claim>") -> tuple[Claim | None, list[Diagnostic]]:
    """Parse and schema-check one claim document; the claim id defaults to the file stem."""
    try:
        data, positions = parse_yaml(text)
    except YamlProblem as p:
        return None, [Diagnostic(Severity.ERROR, p.code, p.message, Location(rel, p.line, p.column), p.hint)]
    return _claim_from_data(data, positions, rel, Path(rel).stem)


def _claim_from_data(data: Any, positions: dict, rel: str, stem: str) -> tuple[Claim | None, list[Diagnostic]]:
    if data is None:
        return None, [Diagnostic(Severity.ERROR, "empty-file", "claim file is empty", Location(rel), "see docs/format.md for a full example")]
    problems = check_document(data, positions, rel, "claim")
    if problems:
        return None, problems

    def loc(*field_path) -> Location:
        line, column = positions.get(field_path, positions.get((), (0, 0)))
        return Location(rel, line, column)

    if data["id"] != stem:
        valid = ecma_search(load_schema("claim")["properties"]["id"]["pattern"], stem)  # a file name that is no id: only rename
        return None, [Diagnostic(Severity.ERROR, "id-mismatch", f"claim id {data['id']!r} does not match the file name {stem!r}", loc("id"),
                                 f"rename the file to {data['id']}.yaml" + (f" or set id: {stem}" if valid else ""))]
    reviewed_on = data.get("reviewed_on", "")
    if reviewed_on and not _calendar_date(reviewed_on):  # the schema's pattern lets 2026-02-30 through
        return None, [Diagnostic(Severity.ERROR, "bad-value", f"{reviewed_on!r} is not a valid value for reviewed_on: there is no such day",
                                 loc("reviewed_on"), "write a date of the calendar as YYYY-MM-DD")]
    evidence = tuple(
        Evidence(
            ref=item["ref"],
            relation=item["relation"],
            cited_in_article=item["cited_in_article"],
            certainty=item["certainty"],
            locator=item.get("locator", ""),
            found=item.get("found", ""),
            quote=item.get("quote", ""),
            location=loc("evidence", index),
        )
        for index, item in enumerate(data["evidence"])
    )
    plain = data.get("plain")
    claim = Claim(
        id=data["id"],
        article=data["article"],
        section=data["section"],
        kind=data["kind"],
        text=Text(nl=data["text"]["nl"], en=data["text"]["en"]),
        evidence=evidence,
        verdict=data["verdict"],
        status=data["status"],
        derived_from=tuple(data.get("derived_from", ())),
        tags=tuple(data.get("tags", ())),
        plain=Text(nl=plain.get("nl", ""), en=plain.get("en", "")) if plain else None,
        verdict_reason=data.get("verdict_reason", ""),
        reviewer=data.get("reviewer", ""),
        reviewed_on=data.get("reviewed_on", ""),
        notes=data.get("notes", ""),
        location=loc(),
        positions=Positions.of(rel, positions),  # a read-only {path: Location}, packed until first used
    )
    return claim, []


def _calendar_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _load_config(root: Path) -> tuple[Config, list[Diagnostic], tuple[str, ...] | None]:
    """kb.yaml's settings and problems, and the installed style names the answer relied on when
    installing or removing a style plugin could change it (kb.yaml names a style that is neither
    pybtex's nor kb's own: found, or reported as ``unknown-style``), else None. The cache remembers
    those names and reads kb.yaml again when the installed styles differ (kb/cache.py ``remember_kb``)."""
    path = root / "kb.yaml"
    if not path.exists():
        return Config(), [], None
    data, positions, diagnostics = read_yaml_file(path, "kb.yaml")
    if data is None:
        return Config(), diagnostics, None
    problems = check_document(data, positions, "kb.yaml", "kb")
    if problems:
        return Config(), diagnostics + problems, None
    defaults = Config()
    relied = None
    if "style" in data and data["style"] not in FIXED_STYLES:  # a typo here would otherwise surface only when a report is rendered
        from .cite import style_names  # pybtex's styles and every installed package's entry points: only for a name not fixed

        names = style_names()
        relied = tuple(names)
        if data["style"] not in names:
            diagnostics.append(Diagnostic(Severity.ERROR, "unknown-style", f"unknown citation style {data['style']!r}",
                                          location("kb.yaml", positions, ("style",)),
                                          did_you_mean(data["style"], names) or f"available: {', '.join(names)}"))
            data = {k: v for k, v in data.items() if k != "style"}
    return (
        Config(
            title=data.get("title", defaults.title),
            description=data.get("description", defaults.description),
            languages=tuple(data.get("languages", defaults.languages)),
            style=data.get("style", defaults.style),
            old_source_years=data.get("old_source_years", defaults.old_source_years),
            review_language=data.get("review_language", defaults.review_language),
        ),
        diagnostics,
        relied,
    )


def _path_key(rel: str) -> str:
    """Claim files are read in this order (folder by folder); the first file with an id owns it.
    The path with NUL for "/": it sorts as the list of its parts would (NUL is below every character
    a name can hold), compared in one go."""
    return rel.replace("/", "\0")


def _undecodable(rel: str) -> str | None:
    """The first part of ``rel`` (a path relative to the knowledge base) whose name is not valid UTF-8
    (Python keeps such bytes as lone surrogates), shown with its bytes escaped (``caf\\xe9``); None
    when the whole path is valid. kb could read such a file but could not print it, write it into
    JSON or link it from a web page, so the loader reports it and reads nothing below it."""
    try:
        rel.encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    parts = rel.split("/")
    for n, part in enumerate(parts):
        try:
            part.encode("utf-8")
        except UnicodeEncodeError:
            return _shown("/".join(parts[:n + 1]))
    return _shown(rel)  # not reached: some part holds the surrogate


def _shown(rel: str) -> str:
    """``rel`` printable: bytes that are not UTF-8 (kept by Python as lone surrogates) written as ``\\xNN``."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _name_error(shown: str) -> Diagnostic:
    return Diagnostic(Severity.ERROR, "file-name", "name is not valid UTF-8; kb skips it (it could not show or link it)",
                      Location(shown), "rename it with a UTF-8 name")


def _claim_file_kind(name: str, mode: int) -> str | None:
    """What an entry of the walk (kb/cache.py ``Scan``) under claims/ is to the loader: "folder",
    "linked-folder" (reported, not followed), "claim" (a claim file: .yaml or .yml, in any case), or None (ignored:
    hidden, or not YAML)."""
    if name.endswith("/"):
        return "folder"
    if "/." in name:  # a hidden file or folder below claims/
        return None
    if stat.S_ISDIR(mode):
        return "linked-folder"
    return "claim" if name.endswith(CLAIM_SUFFIXES) or name.lower().endswith(CLAIM_SUFFIXES) else None  # pijn.YAML too


def _claim_files(scan: Scan, root: Path) -> tuple[list[tuple[str, str, str]], list[Diagnostic]]:
    """Every *.yaml under claims/ as (path, path relative to root, stem), sorted by path, from the walk
    ``scan`` (no second walk); symlinked folders are reported and not followed (no loops). Plain
    strings, not Paths: at 100,000 files pathlib costs a second."""
    found = []
    skipped = []
    base = os.path.join(str(root), "")
    named: set[str] = set()
    for name, mode in zip(scan.names, scan.packed[2::3]):
        if not name.startswith("claims/"):
            continue
        kind = _claim_file_kind(name, mode)
        if kind in ("claim", "folder") and "/." not in name and (bad := _undecodable(name)) is not None:
            if bad not in named:  # a folder with such a name: reported once, nothing below it read
                named.add(bad)
                skipped.append(_name_error(bad))
            continue
        if kind == "claim":
            found.append((base + name, name, name.rsplit("/", 1)[-1].rsplit(".", 1)[0]))
        elif kind == "linked-folder":
            if (bad := _undecodable(name)) is not None and bad != _shown(name):
                continue  # inside a folder whose name is reported (file-name): nothing there is read anyway
            skipped.append(Diagnostic(Severity.WARNING, "symlink-skipped", "symbolic link to a folder is not followed", Location(_shown(name)),
                                      "move the claim files into claims/ instead of linking to them"))
    for name, exc in scan.errors:
        if (name == "claims" or name.startswith("claims/")) and not any(p.startswith(".") for p in name.split("/")[1:]) \
                and scan.position(name) is None:  # a folder that could not be listed (a file that could not be stat'ed is loaded and reported)
            skipped.append(Diagnostic(Severity.ERROR, "unreadable", f"cannot read folder: {exc.strerror or exc}", Location(name)))
    return sorted(found, key=lambda item: _path_key(item[1])), skipped


def _pick_first(entries: Iterable[tuple[str, Claim]]) -> tuple[dict[str, str], list[Diagnostic]]:
    """The file each claim id comes from (the first in path order; ``entries`` are in that order) and
    a duplicate-id error for every later file with the same id."""
    first_seen: dict[str, str] = {}
    problems = []
    for rel, claim in entries:
        if claim.id in first_seen:
            problems.append(Diagnostic(Severity.ERROR, "duplicate-id", f"claim id {claim.id!r} is also used by {first_seen[claim.id]}",
                                       claim.where("id"), "claim ids must be unique across claims/"))
            continue
        first_seen[claim.id] = rel
    return first_seen, problems


def _load_article_file(path: str, rel: str, stem: str, raw: bytes | None = None):
    if not os.path.isfile(path):
        return None, [Diagnostic(Severity.ERROR, "unreadable", "not a regular file", Location(rel), "remove it or replace it with a file")]
    try:
        raw = read_input(path, rel) if raw is None else raw
    except OSError as exc:
        return None, [Diagnostic(Severity.ERROR, "unreadable", f"cannot read file: {exc.strerror or exc}", Location(rel), getattr(exc, "hint", None))]
    try:
        text, bom = decode_utf8(raw)  # a BOM in front of the front matter: ignored, with a warning as for claim and BibTeX files
    except NotUtf8 as exc:
        return None, [exc.diagnostic(rel)]
    article, diagnostics = parse_article(text, rel, stem)
    return article, ([bom_warning(rel)] + diagnostics if bom else diagnostics)


def _load_bib_file(path: str, rel: str, stem: str, raw: bytes | None = None):
    from .bib import parse_bib_file  # pybtex: imported only when BibTeX is read (not by a warm or incremental check)

    data, refs, problems = parse_bib_file(Path(path), rel)
    return (data, refs), problems


def load_kb(root: str | os.PathLike) -> KnowledgeBase:
    """Read a knowledge base: kb.yaml, articles/*.md, claims/**/*.yaml and references/*.bib.

    With the cache (kb/cache.py), what did not change since the last run comes from <kb>/.kb-cache:
    when no file changed, the claims, references and articles are read only when first used; when
    only claim files changed, just those are read (``_load_changes``), and the rest again only when used.
    """
    return remember_kb(root, _load_kb, update=_load_changes)


def _load_kb(root: str | os.PathLike, scan: Scan | None = None, files: dict | None = None) -> KnowledgeBase:
    """The full load. ``scan``: the walk of the root, if already made; ``files``: a dict that receives
    "files" (rel, claim or None, diagnostics) for every claim file, "other", the diagnostics not
    of one claim file, and "styles", the installed style names kb.yaml's answer relied on (for the
    index, ``full_index``)."""
    root_path = Path(root)
    if not root_path.is_dir():
        what = "is not a folder" if root_path.exists() else "does not exist"
        raise LoadError(f"knowledge base folder {str(root)!r} {what}", hint="pass --kb DIR to name the knowledge-base folder")
    if not os.access(root_path, os.R_OK | os.X_OK):  # is_dir() below would raise for a folder that cannot be entered
        raise LoadError(f"cannot read the knowledge base folder {str(root)!r}: permission denied",
                        hint="give yourself read access to it (chmod u+rx)")
    for needed in ("claims", "references"):
        if (root_path / needed).exists() and not (root_path / needed).is_dir():
            raise LoadError(f"{str(root_path / needed)!r} is a file, not a folder: a knowledge base needs claims/ and references/ folders",
                            hint=f"rename the file and make a folder {needed}/ for the {needed}")
        if not (root_path / needed).is_dir():
            raise LoadError(
                f"folder {str(root_path / needed)!r} is missing: a knowledge base needs claims/ and references/ folders",
                hint="create it, or pass --kb DIR to name the knowledge-base folder",
            )
    other: list[Diagnostic] = []
    config, problems, styles = _load_config(root_path)
    other += problems

    claim_files, problems = _claim_files(scan if scan is not None else scan_inputs(root_path), root_path)
    other += problems
    # Each file's own result comes from the cache (kb/cache.py) when the file is unchanged; claim
    # files that are not are parsed in worker processes for big KBs while this process reads the rest.
    loading = start_loading(root_path, "claims", claim_files, load_claim_file, parallel=True)
    # With worker processes (a big knowledge base) the cache files are written in the background
    # once everything is parsed, on the core the workers leave idle (kb/cache.py write_in_background).
    saves: list | None = [] if loading.stats["workers"] else None

    articles = _load_articles(root_path, other, saves)
    references, bibliography = _load_references(root_path, other, saves)

    results = loading.results(later=saves)
    if saves:
        write_in_background(saves)
    diagnostics = list(other)
    for _, _, problems in results:
        diagnostics += problems
    first_seen, duplicates = _pick_first((rel, claim) for rel, claim, _ in results if claim is not None)
    diagnostics += duplicates
    claims = {claim.id: claim for rel, claim, _ in results if claim is not None and first_seen[claim.id] == rel}
    if files is not None:
        files["files"], files["other"], files["styles"] = results, other, styles

    return KnowledgeBase(
        root=str(root_path),
        config=config,
        claims={cid: claims[cid] for cid in sorted(claims)},  # sorting the ids alone: strings compared in C
        references=references,  # sorted by _load_references
        articles=articles,
        bibliography=bibliography,
        diagnostics=tuple(sorted(diagnostics, key=lambda d: d.sort_key)),
    )


def _load_articles(root_path: Path, other: list[Diagnostic], saves: list | None = None) -> dict:
    """Every article by id (from the cache when unchanged); problems are appended to ``other``."""
    from .bib import MAX_BIB_BYTES

    articles = {}
    articles_dir = root_path / "articles"
    if articles_dir.is_dir():
        unnamed: list[str] = []
        paths = _input_files(root_path, "articles", "*.md", unnamed)
        other += [_name_error(bad) for bad in unnamed] + _unlistable(root_path, "articles", paths)
        article_files = [(str(p), p.relative_to(root_path).as_posix(), p.stem) for p in paths]
        for rel, article, problems in start_loading(root_path, "articles", article_files, _load_article_file, max_bytes=MAX_BIB_BYTES).results(later=saves):
            other += problems
            if article is not None:
                articles[article.id] = article
    return articles


def _load_references(root_path: Path, other: list[Diagnostic], saves: list | None = None, *, table: bool = False) -> tuple[dict, Any]:
    """(every Reference by key, sorted; the pybtex BibliographyData), from the cache when unchanged;
    problems are appended to ``other``. The table ``some_references`` reads is kept when a BibTeX file
    was parsed (or ``table``)."""
    from pybtex.database import BibliographyData

    from .bib import MAX_BIB_BYTES

    bibliography = BibliographyData()
    references = {}
    unnamed: list[str] = []
    paths = bib_paths(root_path, unnamed)
    other += [_name_error(bad) for bad in unnamed] + _unlistable(root_path, "references", paths)
    state = _bib_state(root_path, paths)
    bib_files = [(str(p), p.relative_to(root_path).as_posix(), p.stem) for p in paths]
    loading = start_loading(root_path, "references", bib_files, _load_bib_file, max_bytes=MAX_BIB_BYTES)
    for rel, (data, refs), problems in loading.results(later=saves):
        other += problems
        for ref in refs:
            if ref.key in references:
                other.append(Diagnostic(Severity.ERROR, "bib-duplicate-key", f"duplicate BibTeX key {ref.key!r} (also in {references[ref.key].location})",
                                        ref.location, "rename or remove one entry; claims refer to references by key"))
                continue
            references[ref.key] = ref
            bibliography.entries[ref.key] = data.entries[ref.key]
    references = {key: references[key] for key in sorted(references)}
    if (loading.stats["parsed"] or table) and state is not None and state == _bib_state(root_path, paths):
        _keep_reference_table(root_path, state, references, bibliography, saves)
    return references, bibliography


# --- a few references by key, for kb/siteupdate.py ------------------------------------------------

_REFERENCE_TABLE = "references-by-key.pickle"
#: From this many references the table is written by a forked writer (kb/cache.py write_in_background).
_TABLE_IN_BACKGROUND = 2000


def bib_paths(root_path: Path, unnamed: list[str] | None = None) -> list[Path]:
    """references/*.bib as ``_input_files`` gives them: the BibTeX files every command reads."""
    return _input_files(root_path, "references", "*.bib", unnamed)


def _input_files(root_path: Path, folder: str, pattern: str, unnamed: list[str] | None = None) -> list[Path]:
    """``folder/pattern`` under the knowledge base, sorted, without files whose name is not valid UTF-8
    (``_undecodable``: their shown names are appended to ``unnamed``)."""
    paths = []
    for path in sorted((root_path / folder).glob(pattern)):
        bad = _undecodable(path.relative_to(root_path).as_posix())
        if bad is None:
            paths.append(path)
        elif unnamed is not None:
            unnamed.append(bad)
    return paths


def _unlistable(root_path: Path, folder: str, found: list[Path]) -> list[Diagnostic]:
    """The error for ``folder`` when it is there but cannot be listed (``glob`` finds nothing in it,
    without a word), else nothing. ``found``: what ``_input_files`` found there; a folder it found
    files in was listed, so it is not listed again."""
    if found:
        return []
    try:
        with os.scandir(root_path / folder):
            pass
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [Diagnostic(Severity.ERROR, "unreadable", f"cannot read folder: {exc.strerror or exc}", Location(folder))]
    return []


def _bib_state(root_path: Path, paths: list[Path]) -> bytes | None:
    """What the BibTeX files are now (names, sizes, times) and what reads them (kb/cache.py fingerprint);
    None when one changed within the last two seconds (its time cannot be trusted yet) or cannot be read."""
    import time

    from .cache import file_stamp, fingerprint

    parts = [fingerprint()]
    soon = time.time_ns() - 2 * 10**9
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            return None
        if st.st_mtime_ns > soon:
            return None
        parts.append(f"{path.relative_to(root_path).as_posix()}\0{st.st_size}\0{file_stamp(st)}\0".encode("utf-8", "surrogateescape"))
    return b"".join(parts)


def _keep_reference_table(root_path: Path, state: bytes, references: dict, bibliography, saves: list | None) -> None:
    """Store every reference with its pybtex entry, each pickled on its own, for ``some_references``
    (with the other cache files, in the background when ``saves`` is given)."""
    import pickle

    from .cache import store_value

    def save() -> None:
        table = {key: pickle.dumps((ref, bibliography.entries[key]), protocol=5) for key, ref in references.items()}
        store_value(root_path, _REFERENCE_TABLE, state, table)

    if saves is not None:
        saves.append(save)
    elif len(references) >= _TABLE_IN_BACKGROUND:
        write_in_background([save])
    else:
        save()


def some_references(root: str | os.PathLike, keys: Iterable[str]) -> tuple[dict, Any]:
    """(Reference by key, a pybtex BibliographyData of their entries) for ``keys`` only (those the
    knowledge base has), as ``_load_references`` gives them: from the table it keeps in the cache
    when no BibTeX file changed since, reading a few of 20,000 references in milliseconds instead of
    about 0.7 s; else from the full load (which then keeps the table)."""
    import pickle

    from pybtex.database import BibliographyData

    from .cache import load_value

    root_path = Path(root)
    keys = sorted(set(keys))
    state = _bib_state(root_path, bib_paths(root_path))
    table = load_value(root_path, _REFERENCE_TABLE, state) if state is not None else None
    if not isinstance(table, dict):
        references, bibliography = _load_references(root_path, [], table=True)
        return ({key: references[key] for key in keys if key in references},
                BibliographyData(entries={key: bibliography.entries[key] for key in keys if key in references}))
    references = {}
    bibliography = BibliographyData()
    for key in keys:
        if key in table:
            references[key], bibliography.entries[key] = pickle.loads(table[key])
    return references, bibliography


# --- a part of the knowledge base, for questions about a few claims or one reference -------------

def reachable(start: Iterable[str], step: Callable[[str], Iterable[str]]) -> set[str]:
    """``start`` and everything reachable from it through ``step`` (claim id -> claim ids), at any depth."""
    seen, todo = set(start), list(start)
    while todo:
        for other in step(todo.pop()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


#: ``focus`` reads a part's claim files one by one (about 0.4 ms a file) only up to this many claims, or
#: up to 1/FOCUS_MAX_SHARE of the knowledge base when that is more: loading every claim from the per-file
#: cache costs about 0.05 ms a claim, so a bigger part is cheaper to take from the whole knowledge base
#: (at 100,000 claims, ``kb impact`` on a reference 55,000 claims rest on: 27 s one by one, ~10 s whole).
FOCUS_MAX_CLAIMS = 2000
FOCUS_MAX_SHARE = 10


def focus(kb: KnowledgeBase, *, claims: Iterable[str] = (), refs: Iterable[str] = ()) -> KnowledgeBase:
    """A knowledge base with just what the evidence graph needs to answer ``kb why`` about ``claims``
    or ``kb impact`` about ``refs`` (kb/graph.py ``why``, ``impact``), and ``kb show`` to print a
    claim with its formatted sources; or ``kb`` itself when that cannot be done cheaply. For those
    questions only: nothing else may be asked of it.

    The claims kept: those named and every claim they derive from, at any depth (``why`` walks
    derived_from); for a reference, the claims citing it, every claim that derives from one of those,
    at any depth, and everything those derive from (``impact`` asks what would remain of each). The
    references kept: those named and those these claims cite, with their pybtex entries (for
    formatting; ``some_references``); no articles (no such question reads them; the graph gives each claim's article a
    node of its own); config and diagnostics as in ``kb``.

    When ``kb`` was loaded lazily from the index (kb/cache.py: nothing or only claim files changed
    since the last run), the index says which files hold those claims and only they are read, with the
    references from the cache: at 100,000 claims about 2 s instead of 10-12 s for the whole
    load and graph. A claim id or reference key ``kb`` does not have, two files with one id, a
    derived_from naming a missing claim, or a file that no longer matches its index record (edited
    just now) give ``kb`` itself: the whole knowledge base answers, with its errors and hints. So does
    a part too big to read file by file (FOCUS_MAX_CLAIMS).
    """
    from .cache import read_index, read_journal, session_of, unloaded

    claims, refs = set(claims), set(refs)
    session = session_of(kb)
    if session is None or session.files is not None or not unloaded(kb.claims):
        return kb  # loaded whole already (or no index): nothing to save
    if not claims <= set(kb.claims) or not refs <= set(kb.references):
        return kb
    index = session.index or read_index(session.root, read_journal(session.root))
    if index is None:
        return kb
    change = session.update
    files = dict(index.all_records())
    if change is not None:
        files.update((name, change.record(name)) for name in change.records)
    owner, derived, cites, derived_by = {}, {}, {}, {}
    for name, record in files.items():
        if record is None or record[0] is None or record[0] not in kb.claims:
            continue  # not a claim of kb (unreadable: validation reports it)
        if record[0] in owner:
            return kb  # two files with one id: which one owns it is the whole load's to say (_pick_first)
        cid, keys, targets = record
        owner[cid], derived[cid] = name, targets
        for key in keys:
            cites.setdefault(key, []).append(cid)
        for target in targets:
            derived_by.setdefault(target, []).append(cid)
    if set(owner) != set(kb.claims):
        return kb

    up = reachable([cid for key in refs for cid in cites.get(key, ())], lambda cid: derived_by.get(cid, ()))
    needed = reachable(claims | up, lambda cid: derived.get(cid, ()))
    if not needed <= owner.keys():
        return kb  # derived_from names a claim that is not there (validation reports it)
    if len(needed) > max(FOCUS_MAX_CLAIMS, len(owner) // FOCUS_MAX_SHARE):
        return kb  # a big part (a much cited reference): reading its files one by one costs more than the whole load
    loaded = {}
    for cid in sorted(needed):
        name = owner[cid]
        claim = change.claim_at(name) if change is not None else load_claim_file(str(session.root / name), name, _stem(name))[0]
        if claim is None or claim_record(claim) != files[name]:
            return kb  # the file changed since the index was made (an edit right now): let the whole load answer
        loaded[cid] = claim
    references, bibliography = some_references(session.root, refs | {ev.ref for claim in loaded.values() for ev in claim.evidence})
    return dataclasses.replace(kb, claims=loaded, references=references, articles={}, bibliography=bibliography)


# --- loading only what changed (kb/cache.py keeps the index; kb/validate.py re-checks) --------------

def claim_record(claim: Claim | None) -> tuple:
    """What the index keeps of a claim file, and the build's manifest of a claim: (claim id or None,
    cited reference keys (each once, in order), derived_from)."""
    if claim is None:
        return (None, (), ())
    return (claim.id, tuple(dict.fromkeys(ev.ref for ev in claim.evidence)), tuple(claim.derived_from))


def _stem(rel: str) -> str:
    return rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]


class _Articles(Mapping):
    """Article id -> Article for the ids the index knows, each read from its file when asked for
    (validating one changed claim needs one article, not 5,000)."""

    def __init__(self, root: Path, keys: tuple, files: dict):
        self._root, self._keys, self._files, self._loaded = root, keys, files, {}

    def __getitem__(self, article_id):
        if article_id not in self._loaded:
            rel = self._files[article_id]
            article, _ = _load_article_file(os.path.join(self._root, rel), rel, _stem(rel))
            if article is None:
                raise KeyError(article_id)
            self._loaded[article_id] = article
        return self._loaded[article_id]

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, article_id) -> bool:
        return article_id in self._files


class Change:
    """What ``_load_changes`` found, for kb/validate.py and ``update_index``.

    ``owners``: claim id -> (file that had it before, file that has it now; None: no file) for every
    id a changed file had or has. ``records``: the index record of every changed file (None: deleted).
    ``claim_at(rel)``: the claim of any claim file (changed ones as just read; others read again:
    they are unchanged). ``articles``: the article look-up for validation.
    """

    def __init__(self, root: Path, index, fresh: dict, owners: dict, articles: _Articles, listing: dict, load_diags: dict,
                 dups: dict, dup_diags: dict, claims: tuple):
        self.root, self.index, self.fresh, self.owners, self.articles = root, index, fresh, owners, articles
        self.listing, self.load_diags, self.dups, self.dup_diags, self.claims = listing, load_diags, dups, dup_diags, claims
        self.records = {rel: None if found is None else claim_record(found[0]) for rel, found in fresh.items()}
        self._read: dict[str, Claim | None] = {}

    def record(self, rel: str) -> tuple:
        return self.records[rel] if rel in self.records else self.index.record(rel)

    def claim_at(self, rel: str) -> Claim | None:
        if rel in self.fresh:
            return None if self.fresh[rel] is None else self.fresh[rel][0]
        if rel not in self._read:
            self._read[rel] = load_claim_file(os.path.join(self.root, rel), rel, _stem(rel))[0]
        return self._read[rel]


#: Changed files (or a quarter of all, if more) beyond which ``_load_changes`` leaves the work to the
#: full load: it parses every changed file, while the full load's per-file cache only hashes those
#: whose bytes are the same (after a ``chmod -R`` or ``touch`` of everything, say).
_MANY_CHANGES = 2000


def _load_changes(root: Path, scan: Scan, index) -> tuple[KnowledgeBase, Change] | None:
    """The knowledge base when, since ``index`` was written, only claim files changed (edited, added,
    deleted, renamed; files the loader ignores may change too): the changed files are read, everything
    else comes from the index. None when anything else changed (kb.yaml, articles, references,
    folders): then only a full load is right."""
    summary = index.summary
    names = index.changed(scan)
    if len(names) > max(_MANY_CHANGES, len(scan.names) // 4):
        return None  # a chmod -R, a checkout of another branch: the full load reads them through the per-file cache
    changed = []
    for name in names:
        if not name.startswith("claims/") or _undecodable(name) is not None:
            return None
        states = [st for st in (index.old_stat(name), scan.stat(name)) if st is not None]
        kinds = {_claim_file_kind(name, st[2]) for st in states}
        if "folder" in kinds or "linked-folder" in kinds:
            return None
        if "claim" in kinds:
            if not all(stat.S_ISREG(st[2]) for st in states):
                return None
            changed.append(name)
    changed.sort(key=_path_key)
    fresh: dict[str, tuple | None] = {}
    for rel in changed:
        fresh[rel] = load_claim_file(os.path.join(root, rel), rel, _stem(rel)) if scan.position(rel) is not None else None

    # which file owns each id that a changed file had or has (the first in path order: _pick_first)
    keys = summary["claims"]
    old_records = {rel: index.record(rel) for rel in changed}
    touched = {record[0] for record in old_records.values() if record is not None and record[0] is not None}
    touched |= {found[0].id for found in fresh.values() if found is not None and found[0] is not None}
    old_files: dict[str, list[str]] = {}  # claim id -> the changed files that held it, in ``changed`` order
    for rel, record in old_records.items():
        if record is not None and record[0] is not None:
            old_files.setdefault(record[0], []).append(rel)
    new_files: dict[str, list[str]] = {}  # claim id -> the changed files that hold it now
    for rel in changed:
        if fresh[rel] is not None and fresh[rel][0] is not None:
            new_files.setdefault(fresh[rel][0].id, []).append(rel)
    before: dict[str, list[str]] = {}
    search = set()
    for cid in touched:
        if cid in index.dups:
            before[cid] = list(index.dups[cid])
        else:
            known = old_files.get(cid, [])
            at = bisect.bisect_left(keys, cid)
            if known:
                before[cid] = known
            elif at < len(keys) and keys[at] == cid:
                search.add(cid)
            else:
                before[cid] = []
    if search:
        for rel, record in index.all_records():
            if record[0] in search:
                before[record[0]] = [rel]
        if any(cid not in before for cid in search):
            return None  # an index that contradicts itself: never trust it
    change_set = set(changed)
    claim_keys = list(keys)
    owners, dups, dup_diags = {}, dict(index.dups), dict(index.dup_diags)
    change = Change(root, index, fresh, owners, _Articles(root, tuple(summary["articles"]), index.fixed["article_files"]),
                    {}, {}, dups, dup_diags, ())
    for cid in sorted(touched):
        members = [rel for rel in before[cid] if rel not in change_set]
        members += new_files.get(cid, [])
        members.sort(key=_path_key)
        was = min(before[cid], key=_path_key) if before[cid] else None
        owners[cid] = (was, members[0] if members else None)
        if len(members) > 1:
            dups[cid] = members
            dup_diags[cid] = tuple(map(encode, _pick_first((rel, change.claim_at(rel)) for rel in members)[1]))
        else:
            dups.pop(cid, None)
            dup_diags.pop(cid, None)
        at = bisect.bisect_left(claim_keys, cid)
        present = at < len(claim_keys) and claim_keys[at] == cid
        if members and not present:
            claim_keys.insert(at, cid)
        elif not members and present:
            del claim_keys[at]
    change.claims = tuple(claim_keys)

    change.listing = {name: scan.recorded_stat(name) for name in names}
    load_diags = dict(index.load_diags)
    for rel in changed:
        problems = tuple(map(encode, fresh[rel][1])) if fresh[rel] is not None else ()
        if problems:
            change.load_diags[rel] = load_diags[rel] = problems
        elif rel in load_diags:
            change.load_diags[rel] = None
            del load_diags[rel]
    encoded = list(index.fixed["other"])
    for problems in load_diags.values():
        encoded += problems
    for problems in dup_diags.values():
        encoded += problems
    diagnostics = tuple(sorted(map(decode_diagnostic, encoded), key=lambda d: d.sort_key))
    return lazy_kb(root, summary, _load_kb, claims=change.claims, diagnostics=diagnostics, scan=scan), change


def full_index(kb: KnowledgeBase, session, validated: dict) -> None:
    """Keep the index of a fully loaded and validated knowledge base (kb/cache.py); ``validated``:
    what kb/validate.py found (check_diags, cycles, ref_notes, unloaded, result)."""
    scan, loaded = session.scan, session.files
    if scan is None or scan.errors or not loaded:
        return  # a folder that could not be listed: its files are not in the walk; do not remember it
    records, load_diags, by_id = {}, {}, {}
    for rel, claim, problems in loaded["files"]:
        records[rel] = claim_record(claim)
        if claim is not None:
            by_id.setdefault(claim.id, []).append((rel, claim))
        if problems:
            load_diags[rel] = tuple(map(encode, problems))
    dups, dup_diags = {}, {}
    for cid, members in by_id.items():
        if len(members) > 1:
            dups[cid] = [rel for rel, _ in members]
            dup_diags[cid] = tuple(map(encode, _pick_first(members)[1]))
    cites: dict[str, int] = {}
    derived = {}
    for cid, claim in kb.claims.items():
        rel = claim.location.path
        for key in records[rel][1]:
            cites[key] = cites.get(key, 0) + 1
        if claim.derived_from:
            derived[cid] = (rel, tuple(claim.derived_from))
    write_index(session.root, None, main={
        "names": scan.names, "stats": scan.recorded(), "records": tuple(marshal.dumps(records[name]) if name in records else b""
                                                                         for name in scan.names),
        "load_diags": load_diags, "check_diags": validated["check_diags"],
        "dups": dups, "dup_diags": dup_diags, "derived": derived, "cites": cites, "cycles": validated["cycles"],
        "fixed": {"ref_notes": validated["ref_notes"], "article_files": {aid: a.location.path for aid, a in kb.articles.items()},
                  "other": tuple(map(encode, loaded["other"]))},
        "summary": {"root": str(session.root), "digest": scan.digest(), "config": dataclasses.asdict(kb.config),
                    "claims": tuple(kb.claims), "references": tuple(kb.references), "articles": tuple(kb.articles),
                    "load_diagnostics": tuple(map(encode, kb.diagnostics)), "unloaded": validated["unloaded"], "result": validated["result"],
                    "styles": loaded.get("styles")},
    })


def update_index(kb: KnowledgeBase, session, validated: dict) -> None:
    """Keep the index after ``_load_changes`` and kb/validate.py's re-check: the changes go to the
    journal, or, when it would hold more than ``JOURNAL_MERGE`` of the names, into a new index file."""
    index, change, scan = session.index, session.update, session.scan
    entries = {name: None if st is None else (st, b"" if change.records.get(name) is None else marshal.dumps(change.records[name]))
               for name, st in change.listing.items()}
    old_checks, new_checks = index.check_diags, validated["check_diags"]
    whole = {"summary": dict(index.summary, digest=scan.digest(), claims=change.claims, load_diagnostics=tuple(map(encode, kb.diagnostics)),
                             unloaded=validated["unloaded"], result=validated["result"]),
             "dups": change.dups, "dup_diags": change.dup_diags, "derived": validated["derived"], "cites": validated["cites"],
             "cycles": validated["cycles"]}
    if len(set(index.entries) | set(entries)) <= JOURNAL_MERGE * max(1, len(scan.names)) and not scan.errors:
        write_index(session.root, index, changes=dict(whole, entries=entries, load_diags=change.load_diags, check_diags={
            rel: new_checks.get(rel) for rel in set(old_checks) | set(new_checks) if old_checks.get(rel) != new_checks.get(rel)}))
        return
    load_diags = dict(index.load_diags)
    for rel, value in change.load_diags.items():
        if value is None:
            load_diags.pop(rel, None)
        else:
            load_diags[rel] = value
    records = tuple(entries[name][1] if name in entries else index.old_record_bytes(name) for name in scan.names)
    write_index(session.root, None, main=dict(whole, names=scan.names, stats=scan.recorded(), records=records, load_diags=load_diags,
                                             check_diags=new_checks, fixed=index.fixed))
