"""kb extract: draft claims from an article and its bibliography."""

from __future__ import annotations

import sys

from ._common import changing_references, name, print_diagnostics


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "extract", help="draft one claim per statement of an article, with its citations resolved",
        description="Read ARTICLE (Markdown or plain text, Dutch or English), split it into sentences, find citation markers "
                    "((Author et al., 2017), Author (2017), [1-3] ...) and resolve them against REFS by first author and year. "
                    "Copies the article to KB_DIR/articles/<id>.md, adds the references to KB_DIR/references/<REFS name>.bib, "
                    "and writes one draft claim per new statement to KB_DIR/claims/ (never overwriting a file). "
                    "Rules: docs/extract.md.")
    p.add_argument("article", metavar="ARTICLE", type=name("a file name"), help="the article: .md/.markdown (Markdown) or any other name (plain text)")
    p.add_argument("--bib", metavar="REFS", action="append", required=True, type=name("a file name"),
                   help="the article's references: .bib (BibTeX/BibLaTeX), .json (CSL-JSON) or .ris; repeatable")
    p.add_argument("-o", "--output", metavar="KB_DIR", type=name("a folder"), help="the knowledge base to write to (default: --kb, i.e. the current folder)")
    p.add_argument("--lang", choices=["nl", "en"], help="the article's language (default: front matter, else detected)")
    p.add_argument("--id", dest="article_id", metavar="ID", type=name("an article id"), help="article id (default: from the file name)")
    p.add_argument("--format", dest="source_format", choices=["markdown", "text"], help="how to read ARTICLE (default: from its suffix)")
    p.add_argument("--dry-run", action="store_true", help="report what would be written, write nothing")
    p.add_argument("--strict", action="store_true", help="exit 1 when a citation is ambiguous or unresolved")
    p.set_defaults(handler=cmd_extract)


def cmd_extract(args) -> int:
    from ..extract import run_extract

    kb_dir = args.output or args.kb
    with changing_references(kb_dir, dry_run=args.dry_run, quiet=args.quiet):  # as kb import does: it appends to a .bib there
        result = run_extract(args.article, args.bib, kb_dir, lang=args.lang, article_id=args.article_id, fmt=args.source_format,
                             dry_run=args.dry_run)
    x = result.extraction
    counts = x.counts()
    would = "would write" if args.dry_run else "wrote"
    imported = result.imported
    lines = [
        f"article: {result.article_path} ({x.article.language}, {len(x.article.sections)} sections)"
        + ("" if result.article_written else " (already there)" if result.article_path.exists() else f" ({would})"),
    ]
    if imported is not None:
        lines.append(f"references: {len(imported.added)} {'would be ' if args.dry_run else ''}added to references/, "
                     f"{len(imported.duplicates)} already there")
    lines += [
        f"statements: {counts['statements']} ({counts['cited']} with a citation); {would} {len(result.claims_written)} draft claims"
        + (f", {result.already_present} already in claims/" if result.already_present else ""),
        f"citations: {counts['citations']} found, {counts['resolved']} resolved, {counts['unresolved']} unresolved",
    ]
    for problem in x.problems:
        lines.append(f"  {problem}")  # compiler-style, as kb check prints: path:line: warning: message; hint [code]
    if x.notes:
        lines.append("resolved by a rule, worth checking:")
        lines += [f"  {note}" for note in x.notes]
    sys.stdout.write("\n".join(lines) + "\n")
    if imported is not None and imported.problems:
        print_diagnostics(imported.problems, quiet=args.quiet)
    return 1 if args.strict and counts["unresolved"] else 0
