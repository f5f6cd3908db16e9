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
from .bib import parse_bib_file
from .errors import ConfigError, Diagnostic, LoadError, Location, Severity
from .model import Claim, Config, Evidence, KnowledgeBase, Text
from .schema import check_document
from .yamlsafe import MAX_BYTES, YamlProblem, decode, parse_yaml

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
        positions={path: Location(rel, line, column) for path, (line, column) in positions.items()},
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


def _claim_files(claims_dir: Path, root: Path) -> tuple[list[Path], list[Diagnostic]]:
    """Every *.yaml under claims/, sorted; symlinked folders are reported and not followed (no loops)."""
    found = []
    skipped = []
    for dirpath, dirnames, filenames in os.walk(claims_dir, followlinks=False):
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
        found.extend(Path(dirpath) / f for f in filenames if f.endswith(CLAIM_SUFFIXES) and not f.startswith("."))
    return sorted(found), skipped


def load_kb(root: str | os.PathLike) -> KnowledgeBase:
    """Read a knowledge base: kb.yaml, articles/*.md, claims/**/*.yaml and references/*.bib."""
    root_path = Path(root)
    if not root_path.is_dir():
        raise LoadError(f"knowledge base folder {str(root)!r} does not exist", hint="pass --kb DIR to name the knowledge-base folder")
    for needed in ("claims", "references"):
        if not (root_path / needed).is_dir():
            raise LoadError(
                f"folder {str(root_path / needed)!r} is missing: a knowledge base needs claims/ and references/ folders",
                hint="create it, or pass --kb DIR to name the knowledge-base folder",
            )
    diagnostics: list[Diagnostic] = []
    config, problems = _load_config(root_path)
    diagnostics += problems

    articles = {}
    articles_dir = root_path / "articles"
    if articles_dir.is_dir():
        for path in sorted(articles_dir.glob("*.md")):
            rel = path.relative_to(root_path).as_posix()
            try:
                if not path.is_file():
                    raise OSError("not a regular file")
                text = path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                diagnostics.append(Diagnostic(Severity.ERROR, "unreadable", f"cannot read article: {exc}", Location(rel)))
                continue
            article, problems = parse_article(text, rel, path.stem)
            articles[article.id] = article
            diagnostics += problems

    claims: dict[str, Claim] = {}
    first_seen: dict[str, str] = {}
    claim_files, problems = _claim_files(root_path / "claims", root_path)
    diagnostics += problems
    for path in claim_files:
        rel = path.relative_to(root_path).as_posix()
        data, positions, problems = read_yaml_file(path, rel)
        diagnostics += problems
        if data is None and problems:
            continue
        claim, problems = _claim_from_data(data, positions, rel, path.stem)
        diagnostics += problems
        if claim is None:
            continue
        if claim.id in claims:
            diagnostics.append(Diagnostic(Severity.ERROR, "duplicate-id", f"claim id {claim.id!r} is also used by {first_seen[claim.id]}",
                                          claim.where("id"), "claim ids must be unique across claims/"))
            continue
        claims[claim.id] = claim
        first_seen[claim.id] = rel

    bibliography = BibliographyData()
    references = {}
    for path in sorted((root_path / "references").glob("*.bib")):
        rel = path.relative_to(root_path).as_posix()
        data, refs, problems = parse_bib_file(path, rel)
        diagnostics += problems
        for ref in refs:
            if ref.key in references:
                diagnostics.append(Diagnostic(Severity.ERROR, "bib-duplicate-key", f"duplicate BibTeX key {ref.key!r} (also in {references[ref.key].location})",
                                              ref.location, "rename or remove one entry; claims refer to references by key"))
                continue
            references[ref.key] = ref
            bibliography.entries[ref.key] = data.entries[ref.key]

    return KnowledgeBase(
        root=str(root_path),
        config=config,
        claims=dict(sorted(claims.items())),
        references=dict(sorted(references.items())),
        articles=articles,
        bibliography=bibliography,
        diagnostics=tuple(sorted(diagnostics, key=lambda d: d.sort_key)),
    )
