"""kb import and kb retractions: references in, and retraction notices onto them."""

from __future__ import annotations

import sys

from ._common import changing_references, graph_for, name, print_diagnostics


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import", help="add references from BibTeX, CSL-JSON or RIS",
        description="Add the references in FILE (.bib BibTeX/BibLaTeX, .json CSL-JSON, .ris RIS) to references/TO. A reference "
                    "already in the knowledge base (same DOI, else same title and year) is skipped; existing keys never change. "
                    "New entries keep their own key when it is free, else get <family><year>[a-z]. See docs/references.md.")
    p.add_argument("file", metavar="FILE", type=name("a file name"))
    p.add_argument("--to", default="imported.bib", metavar="NAME.bib", help="the file in references/ to append to (default: imported.bib)")
    p.add_argument("--rekey", action="store_true", help="give every new entry a <family><year>[a-z] key, ignoring the file's own keys")
    p.add_argument("--dry-run", action="store_true", help="print the BibTeX that would be appended; write nothing")
    p.set_defaults(handler=cmd_import)

    p = subparsers.add_parser(
        "retractions", help="mark references that are retracted, corrected or under an expression of concern",
        description="Read the Retraction Watch CSV (as distributed by Crossref), match its OriginalPaperDOI and "
                    "OriginalPaperPubMedID against the references, add retraction = {retracted|expression-of-concern|correction} "
                    "and retractionnotice = {...} to each matched BibTeX entry (nothing else in the file changes), and show "
                    "which claims lose their support. See docs/references.md.")
    p.add_argument("file", metavar="FILE", type=name("a file name"), help="retraction_watch.csv")
    p.add_argument("--dry-run", action="store_true", help="show the changes as a diff; write nothing")
    p.set_defaults(handler=cmd_retractions)


def _target_name(name: str) -> str:
    from ..errors import KbError

    if "/" in name or "\\" in name or not name.endswith(".bib") or name.startswith("."):
        raise KbError(f"--to {name!r} must be a file name ending in .bib, without a folder")
    return name


def cmd_import(args) -> int:
    from ..importers import import_file

    with changing_references(args.kb, dry_run=args.dry_run, quiet=args.quiet):
        result = import_file(args.kb, args.file, target=_target_name(args.to), dry_run=args.dry_run, rekey=args.rekey)
    print_diagnostics(result.problems, quiet=args.quiet)
    if args.dry_run:
        sys.stdout.write(result.text)  # the command's own output: it stays with -q
    if args.quiet:  # the report below is a summary on standard error (docs/commands.md)
        return 0
    for key, source in result.added:
        print(f"{'would add' if args.dry_run else 'added'} {key}" + (f" (was {source!r})" if source != key else ""), file=sys.stderr)
    for source, key, reason in result.duplicates:
        print(f"skipped {source!r}: already in the knowledge base as {key} ({reason})", file=sys.stderr)
    where = f"references/{args.to}"
    print(f"{len(result.added)} added to {where}, {len(result.duplicates)} already present"
          + (" (dry run: nothing written)" if args.dry_run else ""), file=sys.stderr)
    return 0


def cmd_retractions(args) -> int:
    from ..errors import KbError
    from ..graph import impact
    from ..load import focus, load_kb
    from ..retractions import apply_marks, find_marks, read_notices

    notices, problems = read_notices(args.file)
    print_diagnostics(problems, quiet=args.quiet)
    with changing_references(args.kb, dry_run=args.dry_run, quiet=args.quiet):
        marks = find_marks(args.kb, notices)
        diffs = apply_marks(marks, dry_run=args.dry_run)
    out = [f"{len(notices)} notices read; {len(marks)} reference(s) of the knowledge base concerned"]
    graph = None
    if marks:
        kb = load_kb(args.kb)
        graph = graph_for(focus(kb, refs=[mark.key for mark in marks if mark.key in kb.references]))
    for mark in marks:
        change = "" if mark.changes else " (already marked)"
        if mark.previous and mark.changes:
            change = f" (was {mark.previous})"
        out.append(f"{mark.rel}:{mark.line}: {mark.key}: {mark.kind}{change}; notice {mark.notice}; matched on {mark.matched_on}")
        try:
            result = impact(graph, mark.key)
        except KbError as exc:
            out.append(f"  cannot show its claims: {exc.message}")
            continue
        out.append(f"  claims resting on it: {', '.join(result.direct + result.indirect) or 'none'}")
        out.append(f"  claims that lose their support: {', '.join(result.orphaned) or 'none (each keeps other support)'}")
    if args.dry_run:
        out.append("dry run: nothing written; the changes would be:")
        out += [d.rstrip("\n") for _, d in diffs]
    elif diffs:
        out.append("updated " + ", ".join(rel for rel, _ in diffs))
    sys.stdout.write("\n".join(out) + "\n")
    return 0
