"""kb render handout|article|audit: standalone documents with citations in a chosen style."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError, ExportError
from ..model import UI_LANGUAGES
from ._common import check_style, check_templates_dir, emit, graph_for, load_valid, name, name_list

KINDS = {
    "handout": ["html", "md", "pandoc", "pdf"],
    "article": ["html", "md", "pdf"],
    "audit": ["html", "md", "json", "pdf"],
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "render",
        help="render a handout, the annotated article or the audit as a standalone document",
        description="Render one document. handout: patient-friendly text from the claims (supported claims; overstated or "
                    "low-certainty ones hedged; unsupported or unbacked ones left out), numbered citations in order of first use "
                    "(or author-date for apa) and a bibliography in the chosen style. article: the article with every claim marked "
                    "and a note per claim. audit: as kb audit. Formats: html (one self-contained file), md, pandoc (Markdown with "
                    "[@key] citations plus a .bib next to it; handout only), pdf (A4, needs the 'pdf' extra: python3 -m pip install '.[pdf]' in kb's source folder). "
                    "Details: docs/handouts.md.",
    )
    p.add_argument("what", choices=list(KINDS), help="the document to render")
    p.add_argument("--format", choices=["html", "md", "pandoc", "pdf", "json"], default="html",
                   help="html (default), md, pandoc (handout), pdf, json (audit)")
    p.add_argument("-o", "--output", metavar="FILE", type=name("a file name"), help="write to FILE instead of standard output (needed for pdf and pandoc)")
    p.add_argument("--force", action="store_true", help="overwrite FILE (and the pandoc .bib) if it exists")
    p.add_argument("--lang", choices=UI_LANGUAGES, help="language of the text and interface words (default: the knowledge base's)")
    p.add_argument("--style", type=name("a style name"), help="citation style: vancouver, apa, plain, unsrt, alpha, unsrtalpha or any installed pybtex style (default: kb.yaml's)")
    p.add_argument("--claims", metavar="IDS_OR_TAGS", type=name_list("claim ids and/or tags"), help="handout, article: only these claims (comma-separated ids and/or tags; default: all)")
    p.add_argument("--title", help="handout: the title (default: 'What the research says' in the chosen language)")
    p.add_argument("--article", metavar="ID", type=name("an article id"), help="article: which article (default: the first)")
    p.add_argument("--templates", metavar="DIR", type=name("a folder"), help="a folder of templates that override the built-in ones by name")
    p.set_defaults(handler=cmd_render)


def cmd_render(args) -> int:
    from ..handout import html_to_pdf

    if args.format not in KINDS[args.what]:
        raise ConfigError(f"kb render {args.what} has no format {args.format!r}", hint=f"choose one of: {', '.join(KINDS[args.what])}")
    if args.format in ("pdf", "pandoc") and (not args.output or args.output == "-"):
        raise ConfigError(f"--format {args.format} needs -o FILE" + (" (the .bib is written next to it)" if args.format == "pandoc" else ""))
    check_templates_dir(args)
    check_style(args)
    kb = load_valid(args)
    graph = graph_for(kb)
    lang = args.lang or kb.config.language
    style = args.style or kb.config.style
    if args.what == "handout":
        return _handout(args, kb, graph, lang, style)
    if args.what == "article":
        from ..handout import render_article, select_claims

        html_fmt = "html" if args.format == "pdf" else args.format
        claims = select_claims(kb, args.claims) if args.claims else None
        text = render_article(kb, graph, html_fmt, lang=lang, style=style, article_id=args.article, templates=args.templates, claims=claims)
    else:
        from ..audit import build_audit, render_audit

        text = render_audit(kb, build_audit(kb, graph), "html" if args.format == "pdf" else args.format, lang=lang, templates=args.templates)
    emit(args, html_to_pdf(text) if args.format == "pdf" else text)
    return 0


def _handout(args, kb, graph, lang: str, style: str) -> int:
    from ..handout import bib_path_for, build_handout, render_built_handout, select_claims, write_pandoc_bib

    claims = select_claims(kb, args.claims)
    backend = "html" if args.format in ("html", "pdf") else "md"
    handout = build_handout(kb, graph, lang=lang, style=style, claims=claims, backend=backend, title=args.title)
    bib_name = bib_path_for(args.output).name if args.format == "pandoc" else "references.bib"
    result = render_built_handout(kb, handout, args.format, bib_name=bib_name, templates=args.templates)
    if args.format == "pandoc":
        if Path(args.output).exists() and not args.force:
            raise ExportError(f"{args.output!r} already exists", hint="pass --force to overwrite it (and its .bib)")
        written = write_pandoc_bib(kb, handout.cited_keys, args.output, force=args.force)
        if not args.quiet:
            print(f"wrote {written}", file=sys.stderr)
    emit(args, result)
    if not args.quiet:
        n = sum(len(s.items) for s in handout.sections)
        print(f"kb render handout: {n} statement{'s' * (n != 1)}, {len(handout.bibliography)} source{'s' * (len(handout.bibliography) != 1)}"
              f" ({style}, {lang}); left out {len(handout.left_out)}", file=sys.stderr)
        if getattr(args, "verbose", False):
            for cid, reason in handout.left_out:
                print(f"  left out {cid}: {reason}", file=sys.stderr)
        if handout.no_plain:
            print(f"kb render handout: hint: {len(handout.no_plain)} statement(s) have no patient-friendly 'plain: {{{lang}: ...}}' "
                  f"wording and use the article's text (kb -v render handout lists them)", file=sys.stderr)
            if getattr(args, "verbose", False):
                for cid in handout.no_plain:
                    print(f"  no plain wording: {cid}", file=sys.stderr)
    return 0
