"""kb why, kb impact, kb stats, kb cocite and kb graph: questions the evidence graph answers."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

from ..errors import KbError
from ..load import focus


def _from_graph(name: str):
    """kb.graph imports networkx (a fifth of a second); only the commands that need it pay for it."""

    def call(*args, **kwargs):
        from .. import graph

        return getattr(graph, name)(*args, **kwargs)

    return call


cocitation, impact, stats, why = (_from_graph(n) for n in ("cocitation", "impact", "stats", "why"))
from ._common import add_output_options, emit, graph_for, load_valid, name, to_json, year

#: Output formats of kb graph, chosen from the -o suffix unless --format is given.
DRAW_FORMATS = ("svg", "png", "pdf", "dot")


def register(subparsers) -> None:
    p = subparsers.add_parser("why", help="the evidence chain behind a claim",
                              description="Show the evidence behind a claim: its own links to sources and those it inherits "
                                          "through the claims it summarises (derived_from), each with relation and certainty, "
                                          "and name the weakest supporting link.")
    p.add_argument("claim_id", metavar="CLAIM_ID")
    p.add_argument("--lang", choices=["nl", "en"], help="language of claim texts (default: the knowledge base's)")
    add_output_options(p, ["text", "json"], "text")
    p.set_defaults(handler=cmd_why)

    p = subparsers.add_parser("impact", help="what rests on a reference, and what its retraction would break",
                              description="List every claim that rests on a reference, directly or through claims derived "
                                          "from those, and which of them would be left with no supporting evidence if the "
                                          "reference were retracted.")
    p.add_argument("ref_key", metavar="REF_KEY")
    add_output_options(p, ["text", "json"], "text")
    p.set_defaults(handler=cmd_impact)

    p = subparsers.add_parser("stats", help="coverage figures: citation, support, certainty, verdicts, sources",
                              description="Coverage figures a reviewer wants at a glance: share of claims the article cites "
                                          "a source for, share with supporting evidence, single-source claims, the most "
                                          "relied-on references, claims by certainty and verdict, references by study type and age.")
    p.add_argument("--as-of", type=year, metavar="YEAR", help="count reference ages from this year (default: this year)")
    add_output_options(p, ["text", "json"], "text")
    p.set_defaults(handler=cmd_stats)

    p = subparsers.add_parser("cocite", help="references cited together, and for which claims",
                              description="Pairs of references cited by the same claim, with those claims, most shared first.")
    add_output_options(p, ["text", "json"], "text")
    p.set_defaults(handler=cmd_cocite)

    p = subparsers.add_parser("graph", help="draw the evidence graph with Graphviz (svg, png, pdf, dot)",
                              description="Draw the evidence graph: claims grouped by section, references coloured by study "
                                          "type, links styled by relation. The format comes from the -o suffix "
                                          "(.svg, .png, .pdf, .dot) or --format. Needs Graphviz's 'dot' program "
                                          "(Debian/Ubuntu package: graphviz) for every format except dot.")
    p.add_argument("-o", "--output", metavar="FILE", required=True, type=name("a file name"), help="the picture to write (e.g. evidence.svg)")
    p.add_argument("--format", choices=DRAW_FORMATS, help="output format (default: from the -o suffix)")
    p.add_argument("--all", action="store_true", dest="all_nodes", help="also draw authors, venues and tags")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.set_defaults(handler=cmd_graph)


def _lang(args, kb) -> str:
    return getattr(args, "lang", None) or kb.config.language


# ---------------------------------------------------------------------------------------- why

def cmd_why(args) -> int:
    kb = load_valid(args)
    result = why(graph_for(focus(kb, claims=[args.claim_id])), args.claim_id)
    emit(args, to_json(result.as_dict()) if args.format == "json" else format_why(result, _lang(args, kb)))
    return 0


def _wrap(text: str, indent: str, width: int = 100) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent) or [indent.rstrip()]


def _link_line(link) -> str:
    parts = [link.relation, f"certainty {link.certainty}", "cited in article" if link.cited_in_article else "added by reviewer"]
    source = f"{link.ref} ({link.ref_label}" + (f", {link.study_type}" if link.study_type else "") + ")"
    flags = []
    if link.retraction:
        flags.append(link.retraction.upper())
    if not link.verified:
        flags.append("unverified")
    return f"{source}: " + ", ".join(parts) + (f" [{', '.join(flags)}]" if flags else "")


def format_why(result, lang: str = "nl") -> str:
    """Text of kb why: the claim, then a tree of its evidence and the claims it derives from."""
    claim = result.claim
    text = claim.text_en if lang == "en" else claim.text_nl
    lines = [f"{claim.id}  [{claim.kind}; verdict: {claim.verdict}; {claim.status}]"]
    lines += _wrap(f'"{text}"', "  ")
    by_holder: dict[str, list] = {}
    for link in result.links:
        by_holder.setdefault(link.holder, []).append(link)
    children: dict[str, list[str]] = {}
    for child, parent in result.derived:
        children.setdefault(parent, []).append(child)
    verdicts = {c.id: c.verdict for c in result.derived_claims}

    def walk(node: str, prefix: str) -> None:
        items = [("link", link) for link in by_holder.get(node, [])] + [("claim", c) for c in children.get(node, [])]
        for i, (what, item) in enumerate(items):
            last = i == len(items) - 1
            branch, cont = ("└─ ", "   ") if last else ("├─ ", "│  ")
            if what == "link":
                lines.append(prefix + branch + _link_line(item))
                if item.locator:
                    lines.append(prefix + cont + f"   at: {item.locator}")
            else:
                verdict = f" [verdict: {verdicts[item]}]" if item in verdicts else ""
                lines.append(prefix + branch + f"derived from {item}{verdict}")
                walk(item, prefix + cont)

    if result.links or result.derived:
        lines.append("evidence:")
        walk(claim.id, "  ")
    else:
        lines.append("evidence: none")
    lines.append(f"certainty: {result.certainty} (the best certainty among supporting links)")
    if result.weakest:
        w = result.weakest
        where = f" (via {' > '.join(w.path)})" if w.inherited else ""
        lines.append(f"weakest link: {w.ref}{where}: {w.relation}, certainty {w.certainty}")
    else:
        lines.append("weakest link: none: no source supports this claim")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------- impact

def cmd_impact(args) -> int:
    kb = load_valid(args)
    result = impact(graph_for(focus(kb, refs=[args.ref_key])), args.ref_key)
    emit(args, to_json(result.as_dict()) if args.format == "json" else format_impact(result))
    return 0


def format_impact(result) -> str:
    lines = [f"{result.ref} ({result.ref_label})"]
    if not result.claims:
        lines.append("no claim rests on this reference")
        return "\n".join(lines) + "\n"
    lines.append(f"direct ({len(result.direct)}):")
    for r in result.claims:
        if not r.via:
            lines.append(f"  {r.claim}: {r.relation}, certainty {r.certainty}" + ("  ORPHANED" if r.orphaned else ""))
    lines.append(f"through derived claims ({len(result.indirect)}):")
    for r in result.claims:
        if r.via:
            lines.append(f"  {r.claim} <- {' <- '.join(r.via)}" + ("  ORPHANED" if r.orphaned else ""))
    if not result.indirect:
        lines.append("  none")
    if result.orphaned:
        lines.append(f"left without supporting evidence if {result.ref} were retracted ({len(result.orphaned)}):")
        lines += [f"  {c}" for c in result.orphaned]
    else:
        lines.append(f"no claim would be left without supporting evidence if {result.ref} were retracted")
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------- stats

def cmd_stats(args) -> int:
    kb = load_valid(args)
    result = stats(kb, graph_for(kb), as_of=args.as_of)
    emit(args, to_json(result.as_dict()) if args.format == "json" else format_stats(result))
    return 0


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


def format_stats(s) -> str:
    lines = [
        f"claims: {s.claims}   references: {s.references}",
        f"the article cites a source for: {s.cited_in_article} of {s.claims} claims ({_pct(s.cited_share)})",
        f"with supporting evidence (direct or inherited): {s.supported} of {s.claims} ({_pct(s.supported_share)})",
        f"single-source claims: {len(s.single_source)}",
    ]
    lines += [f"  {c}" for c in s.single_source]
    lines.append(f"without supporting evidence: {len(s.unsupported)}")
    lines += [f"  {c}" for c in s.unsupported]
    lines.append("most relied-on references (claims resting on each):")
    lines += [f"  {key:<24} {n}" for key, n in s.most_relied_on[:10]] or ["  none"]
    lines.append("claims by certainty (best supporting link):")
    lines += [f"  {k:<24} {v}" for k, v in s.by_certainty.items()]
    lines.append("claims by verdict:")
    lines += [f"  {k:<24} {v}" for k, v in s.by_verdict.items()]
    lines.append("references by study type:")
    lines += [f"  {k:<32} {v}" for k, v in s.references_by_study_type.items()]
    lines.append(f"references by age (years before {s.as_of}):")
    lines += [f"  {k:<24} {v}" for k, v in s.references_by_age.items()]
    if s.uncited_references:
        lines.append(f"references no claim cites: {', '.join(s.uncited_references)}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------- cocite

def cmd_cocite(args) -> int:
    kb = load_valid(args)
    pairs = cocitation(graph_for(kb))
    if args.format == "json":
        emit(args, to_json([p.as_dict() for p in pairs]))
    else:
        emit(args, format_cocite(pairs))
    return 0


def format_cocite(pairs) -> str:
    if not pairs:
        return "no two references are cited together by one claim\n"
    lines = []
    for p in pairs:
        lines.append(f"{p.refs[0]} + {p.refs[1]}: {p.count} claim{'s' * (p.count != 1)}")
        lines += [f"  {c}" for c in p.claims]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------- graph

def cmd_graph(args) -> int:
    from ..graph_export import to_dot

    fmt = args.format or Path(args.output).suffix.lstrip(".").lower()
    if fmt not in DRAW_FORMATS:
        raise KbError(f"cannot tell the picture format from {args.output!r}",
                      hint=f"use a suffix or --format: {', '.join(DRAW_FORMATS)}")
    if Path(args.output).exists() and not args.force:
        raise KbError(f"{args.output!r} exists", hint="pass --force to overwrite it")
    kb = load_valid(args)
    dot_text = to_dot(graph_for(kb), drawing=True, all_nodes=args.all_nodes)
    if fmt == "dot":
        emit(args, dot_text)
        return 0
    emit(args, render_dot(dot_text, fmt))
    return 0


def render_dot(dot_text: str, fmt: str) -> bytes:
    """Run Graphviz ``dot -T<fmt>`` on DOT text; KbError if dot is missing or fails."""
    exe = shutil.which("dot")
    if not exe:
        raise KbError("Graphviz's 'dot' program was not found on PATH",
                      hint="install Graphviz (Debian/Ubuntu: apt-get install graphviz), or write -o FILE.dot")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "graph.dot"
        src.write_text(dot_text, encoding="utf-8")
        proc = subprocess.run([exe, f"-T{fmt}", str(src)], capture_output=True, timeout=300)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise KbError(f"Graphviz dot failed (exit {proc.returncode}): {message[0] if message else 'no message'}")
    return proc.stdout
