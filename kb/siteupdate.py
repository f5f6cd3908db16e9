"""``kb build`` after a few claim files changed: update the site from a small part of the knowledge
base and what the last build's manifest keeps.

``build_site`` (kb/site.py) needs the whole knowledge base and its graph even when one claim
changed: at 100,000 claims loading them and building the graph, the anchors and the page list cost
about 15 s before the first page is looked at. Most edits a reviewer makes reach few pages:

* A claim's verdict reason, notes, reviewer, review date or tags appear on the claim's own page and
  on its article's page, and nothing on any other page is computed from them (``site.OWN_PAGES_ONLY``).
* Its verdict appears besides on the pages of its neighbours in reading order, of the claims it
  summarises and that summarise it and of their articles, of the references it rests on (their lists
  of the claims citing them and resting on them; a page that lists only some of them, the manifest
  notes which: ``site._shown_claims``), on its page of the claims index (which holds the
  same claims whatever their verdicts), and on the home page and the audit page (the counts, and the
  problems a verdict is: ``kb.audit.VERDICT_CODES``). The audit shows the verdict reason of some
  verdicts too (``kb.audit.REASON_SHOWN``): ``site.verdict_mark`` covers both.

The manifest of the last build records per claim a digest of everything else (``site.claim_facets``),
its verdict mark, its file's size and time, and the reading order of every claim; and records of the
home page and the audit (``site._site_records``: the figures, and the first problems of each code).
When the walk of the load shows that only a few claim files changed and their facets did not,
``update_site`` reads those claims and the others the pages to make show, makes the home page and the
audit from the records patched for the new verdicts (``kb.audit.patched_audit``), and makes only those
pages, with the same view models and templates as a full build: the same bytes, checked by
tests/test_site_update.py against full builds.

Anything else (no manifest, another kb, templates, language or style, a changed article, BibTeX file
or kb.yaml, a claim file added, removed or renamed, a facet that changed, a new year or other word lists
for the audit, a page file missing, an asset that differs, the cache off; after a verdict edit also no
records, an audit template of the user's, which may list more problems than the record keeps, or more
than ``MAX_PART`` claims to read) returns None, and
``build_site`` does the work. A page file edited by hand in place (same name, other bytes) is not
noticed here: that would take a ``stat`` of each of 125,000 files, a quarter of the time this saves;
``build_site`` notices it when its size changed, and deleting ``.kb-site.json`` makes every page again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from operator import itemgetter
from pathlib import Path
from typing import Any

from .model import KnowledgeBase

__all__ = ["MAX_CHANGED", "update_site"]

#: Changed claim files up to which ``update_site`` works; more go to ``build_site``.
MAX_CHANGED = 50


def update_site(kb: KnowledgeBase, target: str | os.PathLike, *, lang: str | None = None, style: str | None = None,
                templates: str | os.PathLike | None = None):
    """Update the site in ``target`` for the claim files changed since it was built, when they changed
    only in what their own and their articles' pages show; returns the ``SiteResult`` (``quick``), or
    None when this cannot be done (then call ``build_site``). ``kb``: loaded by ``load_kb`` with the cache
    on, and validated without errors."""
    from .cache import session_of
    from .heap import paused_collector
    from .render import make_env, template_dirs
    from .site import (ASSETS, MANIFEST, SiteResult, _audit_inputs, _build_fingerprint, _has_audit, _read_manifest,
                       _read_manifest_data, _scanned_inputs, _template_exists, kept_folder_times, page_folders, site_info, unsealed)

    target = Path(target)
    if target.is_symlink():
        target = target.resolve()  # as build_site does: the staging folder goes next to the folder the link names
    lang = lang or kb.config.language
    style = style or kb.config.style
    session = session_of(kb)
    if session is None or session.files is not None or not (target / "index.html").is_file():
        return None  # no cache, or loaded whole already (then build_site costs little more)
    scanned = _scanned_inputs(session.scan)
    if scanned is None:
        return None
    try:
        text = (target / MANIFEST).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    data = _read_manifest_data(target, text, check_pages=False)  # no page is removed here; those made are checked
    if data is None or not isinstance(data.get("site"), dict) or not isinstance(data["site"].get("articles"), list):
        return None
    inputs = data.get("inputs")
    if not isinstance(inputs, dict) or inputs.get("rest") != scanned[1]:
        return None  # kb.yaml, an article or a BibTeX file changed
    env = make_env(template_dirs(kb.root, templates))
    has_audit = _has_audit() and _template_exists(env, "audit.html.j2")
    # every page names every article: their titles as the last build read them (no article file changed since)
    site = site_info(dataclasses.replace(kb, articles={}), has_audit)
    site["articles"] = data["site"]["articles"]
    fingerprint = _build_fingerprint(env, kb, lang, style, site, has_audit)
    recorded = _read_manifest(target, fingerprint, data)
    if recorded is None or recorded[1] is None:
        return None
    audit = _audit_inputs(kb) if has_audit else None
    if data.get("audit") != audit:
        return None  # the audit page must be made again: a new year, or other word lists (wording.yaml)
    previous, before = recorded
    with paused_collector():
        plan = _plan(kb, session, before, scanned)
    kept = kept_folder_times(kb.root, target)
    folders = set(kept) if kept is not None else page_folders(previous)  # those holding the pages
    if plan is None or not _all_there(target, previous, folders, kept) or not _assets_there(env, target):
        return None
    if not plan.changed:
        return SiteResult(target=target, pages=tuple(previous) + ASSETS, lang=lang, incremental=True, quick=True)
    raw_records = data.get("records")
    records = unsealed(raw_records)  # None unless as a build wrote them
    if plan.verdicts and not _records_usable(records, env, has_audit):
        return None
    with paused_collector():
        part = _part(kb, session, plan, records, has_audit, previous, lang)
    if part is None:
        return None
    results = _make_pages(env, part, plan, lang, style, site, previous, target,
                          (text, fingerprint, before["rest"], audit, raw_records), folders)
    if results is None:
        return None
    return SiteResult(target=target, pages=tuple(previous) + ASSETS, lang=lang, rendered=tuple(r[0] for r in results if r[3]),
                      incremental=True, quick=True)


@dataclasses.dataclass
class _Plan:
    rows: list  # the manifest's claim rows (site._inputs), in reading order
    changed: dict  # claim id -> its claim, read now
    changed_rows: list  # their indexes in ``rows``
    files: dict  # claims/ file -> (size, time) as the walk saw it
    verdicts: dict  # claim id -> its verdict before, for the changed claims whose verdict mark changed (site.verdict_mark)


def _plan(kb: KnowledgeBase, session, before: dict, scanned: tuple) -> _Plan | None:
    """Which claims changed since the manifest, read now; None when more than that changed."""
    from .load import _claim_file_kind, _stem, load_claim_file
    from .site import _manifest_row, claim_facets, verdict_mark

    files, rest = scanned
    rows = before["claims"]
    if rest != before["rest"]:
        return None
    scan = session.scan
    changed_rows = []
    try:
        for n, row in enumerate(rows):
            seen = files.get(row[6])
            if seen is None:
                return None  # renamed or removed
            if seen[0] != row[1] or seen[1] != row[2] or row[2] < 0:
                changed_rows.append(n)
                if len(changed_rows) > MAX_CHANGED or not _manifest_row(row):
                    return None
    except (TypeError, IndexError, KeyError):
        return None  # a manifest edited by hand
    if len({row[6] for row in rows}) != len(rows):
        return None  # a file named twice: a manifest edited by hand
    # every row's file is there, so claims/ holding no more names than there are rows (``files`` also
    # names claims/ itself) holds no other claim file; else count the claim files among its names
    # (folders, hidden files, a README)
    if len(files) != len(rows) + 1:
        start, end = scan.span("claims/")
        if len(rows) != sum(1 for name, mode in zip(scan.names[start:end], scan.packed[2::3][start:end])
                            if _claim_file_kind(name, mode) == "claim"):
            return None  # a claim file added or removed
    change = session.update
    facet = claim_facets()
    root = os.path.join(str(session.root), "")
    changed, verdicts = {}, {}
    for n in changed_rows:
        row = rows[n]
        rel = row[6]
        if change is not None and rel in change.fresh:
            claim = change.claim_at(rel)
        else:
            claim = load_claim_file(root + rel, rel, _stem(rel))[0]
        if claim is None or claim.id != row[0] or facet(claim) != row[7]:
            return None  # what other pages show of it changed (or its id): build_site decides
        if verdict_mark(claim) != row[9]:
            verdicts[claim.id] = row[9].partition(":")[0]
        changed[claim.id] = claim
    return _Plan(rows=rows, changed=changed, changed_rows=changed_rows, files=files, verdicts=verdicts)


def _records_usable(records: Any, env, has_audit: bool) -> bool:
    """Can the whole-knowledge-base pages be made from the manifest's ``records`` (site._site_records)?
    The audit's record keeps the first problems of each code only, enough for the built-in audit
    template, which lists ``kb.audit.PAGE_LIMIT`` of each: a template of the user's may list more."""
    from .resources import resource_dir
    from .site import shown_notes

    if not isinstance(records, dict) or not isinstance(records.get("home"), dict) or not isinstance(records.get("audit"), dict):
        return False
    if shown_notes(records) is None:
        return False
    if not has_audit:
        return True
    try:
        _, filename, _ = env.loader.get_source(env, "audit.html.j2")
        return Path(filename).resolve() == (resource_dir("templates") / "audit.html.j2").resolve()
    except Exception:  # noqa: BLE001 (a loader that cannot say: make every page)
        return False


#: Claims a quick update reads one by one, at most (about 0.4 ms a file); beyond that ``build_site``,
#: which takes every claim from the per-file cache, is as quick. A verdict edit of a claim that the
#: page of a reference thousands of claims rest on lists (among the ``site.REF_LIST`` it shows) reaches
#: that many: the page is made from all of them (its counts, what its retraction would touch).
MAX_PART = 4000


@dataclasses.dataclass
class _Part:
    kb: KnowledgeBase  # the claims, articles and references the pages show
    order: list  # every claim id in reading order
    pages: list  # (path, template, what the page shows: a claim, an article, a reference, a page number, or None)
    records: dict | None  # the manifest's records of the whole-knowledge-base pages, as they are now
    audit: Any  # the audit page's (trimmed) Audit, or None
    briefs: dict  # claim id -> its brief (site._Views.claim_brief) from a page of the claims index kept by the last build (no changed claim)


def _part(kb: KnowledgeBase, session, plan: _Plan, records: dict | None, has_audit: bool, previous: dict[str, list],
          lang: str) -> _Part | None:
    """The part of the knowledge base the pages to make show, and those pages: the changed claims' pages
    and their articles' pages; after a verdict edit also the pages that show the claim's verdict (its
    neighbours', the claims it summarises and that summarise it, and their articles', the reference
    pages that list it (it rests on them, at any depth), its page of the claims index, the home page
    and the audit). None when a file no longer matches what the manifest and the walk say (saved again
    just now), or when the part is too big to read file by file (``MAX_PART``). A page of the claims
    index is made from its view model as the last build kept it (``site.kept_view``) and the changed
    claims, or, without one, from all its claims, read."""
    from .cache import read_index, read_journal
    from .load import _load_article_file, _stem, claim_record, reachable, some_references
    from .site import INDEX_ROWS, _changed_since, index_path, reference_filename

    rows = plan.rows
    verdicts = plan.verdicts
    try:  # the rows come from the manifest, which may have been edited by hand
        order = list(map(itemgetter(0), rows))
        row_of = dict(zip(order, rows))
        if len(row_of) != len(rows) or not set(map(type, order)) <= {str}:
            return None
        derived_by: dict[str, list[str]] = {}
        for row in rows:
            for target in row[5]:
                derived_by.setdefault(target, []).append(row[0])
        index_of = dict(zip(order, range(len(order))))

        def up(cid: str):
            return row_of[cid][5] if cid in row_of else ()

        def around(cid: str) -> list[str]:
            n = index_of[cid]
            return order[max(n - 1, 0):n + 2]

        claim_pages = set(plan.changed)
        article_pages = {claim.article for claim in plan.changed.values()}
        ref_pages: set[str] = set()
        index_pages: set[int] = set()
        shown = records.get("shown", {}) if verdicts else {}
        for cid in verdicts:  # what shows the claim's verdict, besides its own page and its article's
            links = set(row_of[cid][5]) | set(derived_by.get(cid, ()))
            claim_pages.update(around(cid), links)
            article_pages.update(row_of[x][3] for x in links if x in row_of)
            for key in {key for x in reachable([cid], up) if x in row_of for key in row_of[x][4]}:
                listed = shown.get(f"references/{reference_filename(key)}")
                if listed is None or cid in listed:  # a page that lists some of the claims resting on it shows its note's
                    ref_pages.add(key)
            index_pages.add(index_of[cid] // INDEX_ROWS)
        needed: set[str] = set()
        for cid in claim_pages:  # a claim's page: its neighbours, its links, what it rests on (its why)
            needed.update(around(cid), up(cid), derived_by.get(cid, ()))
            needed |= reachable([cid], up)
        for cid in (row[0] for row in rows if row[3] in article_pages):  # an article's page: its claims and their links
            needed.add(cid)
            needed.update(up(cid), derived_by.get(cid, ()))
        audit_citing: set[str] = set()
        if verdicts:
            audit_citing = {p[2] for p in records["audit"]["problems"] if p[7] is None}
        citing: dict[str, list[str]] = {key: [] for key in ref_pages | audit_citing}
        if citing:
            for row in rows:
                for key in row[4]:
                    if key in citing:
                        citing[key].append(row[0])
        for key in ref_pages:  # a reference's page: the claims citing it, what rests on them, and their support
            needed |= reachable(reachable(citing[key], lambda cid: derived_by.get(cid, ())), up)
        briefs: dict[str, dict] = {}  # claim id -> its brief on a page of the claims index, as kept
        for number in index_pages:
            chunk = order[number * INDEX_ROWS:(number + 1) * INDEX_ROWS]
            kept = _kept_briefs(session.root, lang, index_path("claims", number + 1), previous, chunk)
            if kept is None:
                needed.update(chunk)
            else:
                briefs.update(kept)
        for cid in plan.changed:  # made again from the claim as it is now
            briefs.pop(cid, None)
        if verdicts:
            needed.update(records["home"]["single_source"])
        if not needed <= row_of.keys() or len(needed) > MAX_PART:
            return None
        relied = {key for key, _ in records["home"]["relied_on"]} if verdicts else set()
        cited = {key for cid in needed for key in row_of[cid][4]} | relied
        root = os.path.join(str(session.root), "")
        to_read = sorted(needed - plan.changed.keys())
        read, (references, bibliography) = _read_claims(root, [row_of[cid][6] for cid in to_read],
                                                        lambda: some_references(session.root, cited))
        claims = dict(plan.changed)
        for cid, claim in zip(to_read, read):
            row = row_of[cid]
            rel = row[6]
            if claim is None or claim_record(claim) != (row[0], tuple(row[4]), tuple(row[5])) or _changed_since(root + rel, plan.files[rel]):
                return None  # saved again just now, or a row that does not say what the file holds
            claims[cid] = claim
    except (TypeError, IndexError, KeyError, ValueError):
        return None  # a manifest edited by hand
    index = session.index or read_index(session.root, read_journal(session.root))
    if index is None:
        return None
    article_files = index.fixed["article_files"]
    wanted = {claim.article for claim in claims.values()}
    part_articles = {}
    for aid in kb.articles:  # the whole knowledge base's order
        if aid in wanted and aid in article_files:
            rel = article_files[aid]
            article, _ = _load_article_file(root + rel, rel, _stem(rel))
            seen = session.scan.stat(rel)
            if article is None or seen is None or _changed_since(root + rel, seen[:2]):
                return None  # saved since the walk: let the build read it with everything else
            part_articles[aid] = article
    if references.keys() != cited or not {ev.ref for claim in claims.values() for ev in claim.evidence} <= cited:
        return None  # validation would have said so; let the build report it
    part = dataclasses.replace(kb, claims=claims, articles=part_articles, references=references, bibliography=bibliography)
    pages = [(f"claims/{cid}.html", "site/claim.html.j2", claims[cid]) for cid in sorted(claim_pages)]
    pages += [(f"article/{aid}.html", "site/article.html.j2", part_articles[aid]) for aid in sorted(article_pages) if aid in part_articles]
    pages += [(f"references/{reference_filename(key)}", "site/reference.html.j2", references[key]) for key in sorted(ref_pages)
              if key in references]
    pages += [(index_path("claims", number + 1), "site/claims.html.j2", number) for number in sorted(index_pages)]
    audit = None
    if verdicts:
        made = _whole_pages(records, plan, citing, has_audit)
        if made is None:
            return None
        records, audit = made
        pages.append(("index.html", "site/home.html.j2", None))
        if has_audit:
            pages.append(("audit.html", "audit.html.j2", None))
    return _Part(kb=part, order=order, pages=pages, records=records, audit=audit, briefs=briefs)


def _kept_briefs(root: Path, lang: str, path: str, previous: dict[str, list], chunk: list[str]) -> dict[str, dict] | None:
    """Claim id -> its brief on page ``path`` of the claims index (which lists the claims ``chunk``), from
    the page's view model as the last build kept it (``site.kept_view``, found by the digest the manifest
    has of the page); None when there is none or it does not list exactly those claims."""
    from .site import kept_view

    try:
        view = kept_view(root, lang, path, previous[path][0])
        if view is None:
            return None
        found = {brief["id"]: brief for group in view["groups"] for brief in group["claims"]}
        return found if len(found) == len(chunk) and found.keys() == set(chunk) else None
    except (KeyError, TypeError, IndexError, AttributeError, UnicodeError):
        return None


#: Claim files from which ``_read_claims`` has a forked process read most of them.
_SPLIT_AT = 300


def _read_claims(root: str, rels: list[str], meanwhile: Any) -> tuple[list, Any]:
    """(the claims of the files ``rels`` (None for a file that does not load), in order; what
    ``meanwhile()`` returns). A claim file takes about 0.4 ms to read and check; of many (a page of the
    claims index lists 1,000 claims), a forked process reads three fifths while this one reads the
    rest and does ``meanwhile`` (reading the references: 0.2 s at 20,000 references)."""
    from .load import _stem, load_claim_file
    from .site import _end_with_parent, _receive_outcome, _send_outcome, _start_child, _start_methods

    def read(some: list[str]) -> list:
        return [load_claim_file(root + rel, rel, _stem(rel))[0] for rel in some]

    if len(rels) < _SPLIT_AT or "fork" not in _start_methods():
        return read(rels), meanwhile()
    import multiprocessing

    cut = len(rels) * 2 // 5
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def child() -> None:
        _end_with_parent()
        _send_outcome(sender, lambda: read(rels[cut:]))

    process = context.Process(target=child, daemon=True)
    try:
        try:
            _start_child(process)
        except OSError:  # no process to be had (EAGAIN): read them all here
            sender.close()
            return read(rels), meanwhile()
        sender.close()
        mine = read(rels[:cut])
        extra = meanwhile()
        try:
            theirs = _receive_outcome(receiver)
        except Exception:  # noqa: BLE001 (the helper failed or died: read its share here)
            theirs = read(rels[cut:])
    finally:
        if process.pid is not None:
            if process.is_alive():
                process.kill()
            process.join()
        receiver.close()
    return mine + theirs, extra


def _whole_pages(records: dict, plan: _Plan, citing: dict[str, list[str]], has_audit: bool) -> tuple[dict, Any] | None:
    """The manifest's records of the home page and the audit after the verdict edits of ``plan``, and
    the audit to show (None without an audit page); None when the audit's record is not enough
    (``kb.audit.patched_audit``) or not as written."""
    from .audit import audit_from_record, audit_record, patched_audit
    from .site import AUDIT_KEPT, reference_filename

    try:
        home = dict(records["home"])
        counts = {entry["name"]: entry["count"] for entry in home["verdicts"]}
    except (KeyError, TypeError, ValueError):
        return None
    for cid, old in plan.verdicts.items():
        new = plan.changed[cid].verdict
        if old not in counts or new not in counts:
            return None
        counts[old] -= 1
        counts[new] += 1
    home["verdicts"] = [{"name": name, "count": count} for name, count in counts.items()]
    if not has_audit:
        return {**records, "home": home}, None
    try:
        audit = audit_from_record(records["audit"], lambda key: tuple(sorted(citing.get(key, ()))))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    audit = patched_audit(audit, [(plan.changed[cid], old) for cid, old in plan.verdicts.items()], reference_filename)
    record = audit_record(audit, AUDIT_KEPT) if audit is not None else None
    if record is None:
        return None
    return {**records, "home": home, "audit": record}, audit


def _all_there(target: Path, pages: dict[str, list], folders: set[str], kept: dict[str, int] | None) -> bool:
    """Is every page the manifest lists still in the site? One listing per folder, not 125,000 ``stat``
    calls (a page edited by hand in place is not noticed; one deleted is, and the build makes it again),
    and of the folders holding pages (``folders``) only those whose time is not the one the last build
    kept (``kept``, ``site.kept_folder_times``: listing the claims' folder costs 0.1-0.2 s at 100,000 claims)."""
    from .site import folder_times

    now = folder_times(target, folders) if kept is not None else {}
    same = {folder for folder, time in now.items() if kept.get(folder) == time}
    listed = (folders - same) | {""}
    present: set[str] = set()
    for folder in listed:
        try:
            present.update(map((folder + "/" if folder else "").__add__, os.listdir(target / folder)))
        except OSError:
            return False
    if not same:
        return present.issuperset(pages)
    if listed == {""}:
        return present.issuperset(path for path in pages if "/" not in path)  # the site's own few pages
    return present.issuperset(path for path in pages if path.rpartition("/")[0] in listed)


def _assets_there(env, target: Path) -> bool:
    """Is every asset (style sheet, script, icon) in the site as the templates' search path has it?"""
    from .render import read_asset
    from .site import ASSETS, _holds

    return all(_holds(target / name, read_asset(env, name).encode("utf-8")) for name in ASSETS)


def _make_pages(env, part: _Part, plan: _Plan, lang: str, style: str, site: dict[str, Any], previous: dict[str, list],
                target: Path, manifest: tuple[str, str, str, str | None, dict | None], folders: set[str]) -> list[tuple] | None:
    """Make the pages of ``part`` as ``build_site`` would, move the changed ones into ``target`` and
    write the manifest with their digests and the changed claims' new file times; None when a page to
    make is not in the manifest. ``manifest``: (its text as read, the fingerprint, the digest of the
    other inputs, ``kb.audit.audit_inputs``, the records of the whole-knowledge-base pages); ``folders``:
    those holding the pages (``site.keep_folder_times``)."""
    from .graph import build_graph
    from .output import staging_folder
    from .site import (_manifest_text, _page_entry, _Renderer, _Spec, _stat_now, _update_in_place, _Views, keep_folder_times,
                       reference_filename, sealed, verdict_mark)

    if not all(path in previous and _page_entry((path, previous[path])) for path, _, _ in part.pages):
        return None
    views = _Views(part.kb, build_graph(part.kb), lang, style, order=part.order)
    # the part's references from the formatted-reference disk cache, as build_site takes them: loading it
    # costs 0.1 s at 20,000 references, formatting the 40-100 references of a part again 0.2-0.4 s
    views.format_all()
    index_pages = views.claims_index_pages(part.briefs) if any(t == "site/claims.html.j2" for _, t, _ in part.pages) else []
    makers = {
        "site/claim.html.j2": lambda claim: lambda: views.claim(claim),
        "site/article.html.j2": lambda article: lambda: views.article(article),
        "site/reference.html.j2": lambda ref: lambda: views.reference(ref),
        "site/claims.html.j2": lambda number: index_pages[number][1],
        "site/home.html.j2": lambda _: lambda: views.home_from(part.records["home"]),
        "audit.html.j2": lambda _: lambda: {"audit": part.audit,
                                            "ref_files": {r.ref: reference_filename(r.ref) for r in part.audit.retractions}},
    }
    specs = [_Spec(path, template, makers[template](subject)) for path, template, subject in part.pages]
    text, fingerprint, rest, audit, records = manifest
    staging = staging_folder(target)
    try:
        renderer = _Renderer(env, part.kb, lang, site, specs, staging, previous, target)
        results = [renderer.page(i) for i in range(len(specs))]
        edits = [(_entry(path, previous[path]), _entry(path, [digest, size])) for path, digest, size, _ in results]
        root = os.path.join(part.kb.root, "")
        for n in plan.changed_rows:
            row = plan.rows[n]
            old = _compact(row)
            seen = plan.files[row[6]]
            row[1], row[2] = seen[0], _stat_now(root + row[6], seen)
            row[9] = verdict_mark(plan.changed[row[0]])
            edits.append((old, _compact(row)))
        new_records = sealed(part.records) if part.records is not None else records
        if part.records is not None and new_records != records:
            edits.append((_compact(records), _compact(new_records)))
        new = _spliced(text, edits) if all(r[1] is not None for r in results) else None
        if new is None:  # written whole again, as build_site would
            pages = dict(previous)
            for path, digest, size, _ in results:
                if digest is None:
                    pages.pop(path, None)
                else:
                    pages[path] = [digest, size]
            new = _manifest_text(fingerprint, pages, _compact({"claims": plan.rows, "rest": rest}), site, audit, new_records)
        if new != text or any(r[3] for r in results):
            _update_in_place(target, staging, results, {}, previous, new, all_pages=False)
            keep_folder_times(part.kb.root, target, folders)
        else:
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return results


def _compact(value: Any) -> str:
    """``value`` as the manifest writes it (kb/site.py ``_manifest_text``)."""
    return json.dumps(value, separators=(",", ":"))


def _entry(path: str, value: list) -> str:
    return _compact(path) + ":" + _compact(value)


def _spliced(text: str, edits: list[tuple[str, str]]) -> str | None:
    """``text`` with the first occurrence of each old part replaced by the new one, or None when an old
    part is not there (or two overlap). Re-encoding a 20 MB manifest to change a few entries costs 0.4
    s at 100,000 claims; each entry (a page path with its digest, a claim row starting with its id, the
    records) is written as one unique piece of JSON text that no string value can contain unescaped, so
    the first occurrence is the only one. (A manifest edited by hand to hold a page twice: JSON keeps
    the last, so the entry left as it was makes the next build look at that page again; two rows of
    one claim: ``_part`` refuses them.) One search per edit, and the new text put together once: a copy
    of the whole text per edit, and a second search for another occurrence, cost 0.5 s of the dozen
    edits of a verdict edit."""
    spans = []
    for old, new in edits:
        if old == new:
            continue
        at = text.find(old)
        if at < 0:
            return None
        spans.append((at, at + len(old), new))
    spans.sort(key=lambda span: span[0])
    if any(before[1] > after[0] for before, after in zip(spans, spans[1:])):
        return None
    parts, done = [], 0
    for start, end, new in spans:
        parts += (text[done:start], new)
        done = end
    parts.append(text[done:])
    return "".join(parts)
