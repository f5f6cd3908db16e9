"""Stage 1, load: a knowledge-base folder -> KnowledgeBase (+ load diagnostics).

Per-file problems (syntax, schema, BibTeX) become Diagnostics and loading goes on; only a root
that cannot be read at all raises LoadError. Cross-file checks belong to ``validate``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from pybtex.database import BibliographyData

from .article import parse_article
from .bib import MAX_BIB_BYTES, parse_bib_file
from .cache import Positions, remember_kb, start_loading
from .errors import ConfigError, Diagnostic, LoadError, Location, Severity, did_you_mean
from .model import Claim, Config, Evidence, KnowledgeBase, Text
from .schema import check_document
from .yamlsafe import MAX_BYTES, YamlProblem, decode, location, parse_yaml

__all__ = ["load_kb", "load_claim_text", "read_yaml_file", "CLAIM_SUFFIXES"]

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
        raw = path.read_bytes()
    except OSError as exc:
        return None, {}, [Diagnostic(Severity.ERROR, "unreadable", f"cannot read file: {exc.strerror or exc}", Location(rel))]
    return _parse_yaml_bytes(raw, rel)


def _parse_yaml_bytes(raw: bytes, rel: str) -> tuple[Any, dict, list[Diagnostic]]:
    diagnostics = []
    try:
        text, bom = decode(raw)
        if bom:
            diagnostics.append(Diagnostic(Severity.WARNING, "bom", "file starts with a byte order mark; it was ignored", Location(rel, 1, 1),
                                          "save the file as UTF-8 without BOM"))
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
        return None, [Diagnostic(Severity.ERROR, "id-mismatch", f"claim id {data['id']!r} does not match the file name {stem!r}", loc("id"),
                                 f"rename the file to {data['id']}.yaml or set id: {stem}")]
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


def _load_config(root: Path) -> tuple[Config, list[Diagnostic]]:
    path = root / "kb.yaml"
    if not path.exists():
        return Config(), []
    data, positions, diagnostics = read_yaml_file(path, "kb.yaml")
    if data is None:
        return Config(), diagnostics
    problems = check_document(data, positions, "kb.yaml", "kb")
    if problems:
        return Config(), diagnostics + problems
    defaults = Config()
    if "style" in data:  # a typo here would otherwise surface only when a report is rendered
        from .cite import style_names

        names = style_names()
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
        ),
        diagnostics,
    )


def _claim_files(claims_dir: Path, root: Path) -> tuple[list[tuple[str, str, str]], list[Diagnostic]]:
    """Every *.yaml under claims/ as (path, path relative to root, stem), sorted by path; symlinked folders
    are reported and not followed (no loops). Plain strings, not Paths: at 100,000 files pathlib costs a second."""
    found = []
    skipped = []

    def unreadable(exc: OSError) -> None:  # os.walk would skip a folder it cannot list without a word
        where = Path(exc.filename or claims_dir)
        rel = where.relative_to(root).as_posix() if where.is_relative_to(root) else str(where)
        skipped.append(Diagnostic(Severity.ERROR, "unreadable", f"cannot read folder: {exc.strerror or exc}", Location(rel)))

    for dirpath, dirnames, filenames in os.walk(claims_dir, followlinks=False, onerror=unreadable):
        keep = []
        for name in sorted(dirnames):
            if name.startswith("."):
                continue
            if os.path.islink(os.path.join(dirpath, name)):
                rel = (Path(dirpath) / name).relative_to(root).as_posix()
                skipped.append(Diagnostic(Severity.WARNING, "symlink-skipped", "symbolic link to a folder is not followed", Location(rel),
                                          "move the claim files into claims/ instead of linking to them"))
                continue
            keep.append(name)
        dirnames[:] = keep
        prefix = os.path.relpath(dirpath, root).replace(os.sep, "/") + "/"
        found.extend((os.path.join(dirpath, f), prefix + f, f.rsplit(".", 1)[0])
                     for f in filenames if f.endswith(CLAIM_SUFFIXES) and not f.startswith("."))
    return sorted(found, key=lambda item: item[1].split("/")), skipped


def _load_article_file(path: str, rel: str, stem: str, raw: bytes | None = None):
    if not os.path.isfile(path):
        return None, [Diagnostic(Severity.ERROR, "unreadable", "not a regular file", Location(rel), "remove it or replace it with a file")]
    try:
        raw = Path(path).read_bytes() if raw is None else raw
    except OSError as exc:
        return None, [Diagnostic(Severity.ERROR, "unreadable", f"cannot read file: {exc.strerror or exc}", Location(rel))]
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a BOM in front of the front matter: harmless, ignored
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [Diagnostic(Severity.ERROR, "encoding", f"invalid UTF-8 byte 0x{raw[exc.start]:02x}", Location(rel, line, column),
                                 "save the file as UTF-8")]
    return parse_article(text, rel, stem)


def _load_bib_file(path: str, rel: str, stem: str, raw: bytes | None = None):
    data, refs, problems = parse_bib_file(Path(path), rel)
    return (data, refs), problems


def load_kb(root: str | os.PathLike) -> KnowledgeBase:
    """Read a knowledge base: kb.yaml, articles/*.md, claims/**/*.yaml and references/*.bib.

    When no file changed since the last load, the result comes from <kb>/.kb-cache (kb/cache.py) and
    its claims, references and articles are read only when first used.
    """
    return remember_kb(root, _load_kb)


def _load_kb(root: str | os.PathLike) -> KnowledgeBase:
    root_path = Path(root)
    if not root_path.is_dir():
        what = "is not a folder" if root_path.exists() else "does not exist"
        raise LoadError(f"knowledge base folder {str(root)!r} {what}", hint="pass --kb DIR to name the knowledge-base folder")
    for needed in ("claims", "references"):
        if not (root_path / needed).is_dir():
            raise LoadError(
                f"folder {str(root_path / needed)!r} is missing: a knowledge base needs claims/ and references/ folders",
                hint="create it, or pass --kb DIR to name the knowledge-base folder",
            )
    diagnostics: list[Diagnostic] = []
    config, problems = _load_config(root_path)
    diagnostics += problems

    claim_files, problems = _claim_files(root_path / "claims", root_path)
    diagnostics += problems
    # Each file's own result comes from the cache (kb/cache.py) when the file is unchanged; claim
    # files that are not are parsed in worker processes for big KBs while this process reads the rest.
    loading = start_loading(root_path, "claims", claim_files, load_claim_file, parallel=True)

    articles = {}
    articles_dir = root_path / "articles"
    if articles_dir.is_dir():
        article_files = [(str(p), p.relative_to(root_path).as_posix(), p.stem) for p in sorted(articles_dir.glob("*.md"))]
        for rel, article, problems in start_loading(root_path, "articles", article_files, _load_article_file, max_bytes=MAX_BIB_BYTES).results():
            diagnostics += problems
            if article is not None:
                articles[article.id] = article

    bibliography = BibliographyData()
    references = {}
    bib_files = [(str(p), p.relative_to(root_path).as_posix(), p.stem) for p in sorted((root_path / "references").glob("*.bib"))]
    for rel, (data, refs), problems in start_loading(root_path, "references", bib_files, _load_bib_file, max_bytes=MAX_BIB_BYTES).results():
        diagnostics += problems
        for ref in refs:
            if ref.key in references:
                diagnostics.append(Diagnostic(Severity.ERROR, "bib-duplicate-key", f"duplicate BibTeX key {ref.key!r} (also in {references[ref.key].location})",
                                              ref.location, "rename or remove one entry; claims refer to references by key"))
                continue
            references[ref.key] = ref
            bibliography.entries[ref.key] = data.entries[ref.key]

    claims: dict[str, Claim] = {}
    first_seen: dict[str, str] = {}
    for rel, claim, problems in loading.results():
        diagnostics += problems
        if claim is None:
            continue
        if claim.id in claims:
            diagnostics.append(Diagnostic(Severity.ERROR, "duplicate-id", f"claim id {claim.id!r} is also used by {first_seen[claim.id]}",
                                          claim.where("id"), "claim ids must be unique across claims/"))
            continue
        claims[claim.id] = claim
        first_seen[claim.id] = rel

    return KnowledgeBase(
        root=str(root_path),
        config=config,
        claims=dict(sorted(claims.items())),
        references=dict(sorted(references.items())),
        articles=articles,
        bibliography=bibliography,
        diagnostics=tuple(sorted(diagnostics, key=lambda d: d.sort_key)),
    )
