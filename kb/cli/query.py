"""kb list and kb show: find claims, and read one claim's evidence card."""

from __future__ import annotations

import re
import textwrap

from ..errors import KbError, did_you_mean
from ..model import CERTAINTIES, VERDICTS
from ..load import focus
from ._common import check_style, emit, load_valid, name, to_json


def format_reference(*args, **kwargs):
    from ..cite import format_reference as real  # pybtex styles load only for `kb show`

    return real(*args, **kwargs)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """Text for a terminal: control characters from claims or BibTeX (an escape sequence written as "\\e[2J"
    in a YAML string) are shown as U+FFFD instead of being sent to the terminal."""
    return _CONTROL.sub("\ufffd", text)


def register(subparsers) -> None:
    p = subparsers.add_parser("list", help="list claims, with filters", description="List claims, one a line: id, verdict and text (--format json adds section and references). "
                                                                          "Filters combine: a claim is listed when it matches all of them.")
    p.add_argument("--uncited", action="store_true", help="only claims the article cites no source for")
    p.add_argument("--ref", metavar="KEY", type=name("a reference key"), help="only claims with evidence from this reference")
    p.add_argument("--verdict", choices=VERDICTS, help="only claims with this verdict")
    p.add_argument("--certainty", choices=CERTAINTIES, help="only claims with evidence of this certainty")
    p.add_argument("--section", metavar="ID", type=name("a section id"), help="only claims in this section")
    p.add_argument("--tag", metavar="TAG", type=name("a tag"), help="only claims with this tag")
    p.add_argument("--lang", choices=["nl", "en"], help="language of the text column (default: the knowledge base's)")
    p.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: text)")
    p.set_defaults(handler=cmd_list)

    p = subparsers.add_parser("show", help="show a claim's evidence card", description="Show one claim: text, each source formatted as a reference, relation, certainty, what the source found, and the verdict.")
    p.add_argument("claim_id", metavar="CLAIM_ID")
    p.add_argument("--style", type=name("a style name"), help="citation style (default: the knowledge base's)")
    p.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: text)")
    p.set_defaults(handler=cmd_show)


def select_claims(kb, *, uncited=False, ref=None, verdict=None, certainty=None, section=None, tag=None):
    """The claims matching every given filter, in id order."""
    if ref and ref not in kb.references:
        raise KbError(f"unknown reference {ref!r}", hint=did_you_mean(ref, kb.references) or "references are the BibTeX keys in references/*.bib")
    if section and all(c.section != section for c in kb.claims.values()):
        sections = sorted({s.id for a in kb.articles.values() for s in a.sections})
        if section not in sections:
            raise KbError(f"unknown section {section!r}", hint=did_you_mean(section, sections) or f"sections: {', '.join(sections)}")
    if tag:
        tags = sorted({t for c in kb.claims.values() for t in c.tags})
        if tag not in tags:
            raise KbError(f"no claim has the tag {tag!r}", hint=did_you_mean(tag, tags) or f"tags in use: {', '.join(tags) or 'none'}")
    out = []
    for c in kb.claims.values():
        if uncited and any(ev.cited_in_article for ev in c.evidence):
            continue
        if ref and all(ev.ref != ref for ev in c.evidence):
            continue
        if verdict and c.verdict != verdict:
            continue
        if certainty and all(ev.certainty != certainty for ev in c.evidence):
            continue
        if section and c.section != section:
            continue
        if tag and tag not in c.tags:
            continue
        out.append(c)
    return out


def cmd_list(args) -> int:
    kb = load_valid(args)
    lang = args.lang or kb.config.language
    claims = select_claims(kb, uncited=args.uncited, ref=args.ref, verdict=args.verdict, certainty=args.certainty, section=args.section, tag=args.tag)
    if args.format == "json":
        emit(args, to_json([{"id": c.id, "verdict": c.verdict, "section": c.section, "text": c.text.get(lang),
                             "refs": [ev.ref for ev in c.evidence]} for c in claims]))
        return 0
    width = max((len(c.id) for c in claims), default=0)
    lines = [f"{c.id:<{width}}  {c.verdict:<19}  {textwrap.shorten(c.text.get(lang), 90)}" for c in claims]
    lines.append(f"({len(claims)} of {len(kb.claims)} claims)")
    emit(args, _printable("\n".join(lines)))
    return 0


def cmd_show(args) -> int:
    check_style(args)
    kb = load_valid(args)
    if args.format != "json" and args.claim_id in kb.claims:
        kb = focus(kb, claims=[args.claim_id])  # at 100,000 claims: read this claim, not all of them
    claim = kb.claims.get(args.claim_id)
    if claim is None:
        containing = [cid for cid in kb.claims if args.claim_id in cid]
        hint = did_you_mean(args.claim_id, kb.claims) or (f"did you mean {containing[0]!r}?" if len(containing) == 1 else None)
        if hint is None and containing:
            hint = "ids containing it: " + ", ".join(containing[:5]) + (", ..." if len(containing) > 5 else "")
        raise KbError(f"unknown claim {args.claim_id!r}", hint=hint or "run kb list to see the ids")
    if args.format == "json":
        from ..export import export_document

        emit(args, to_json(next(c for c in export_document(kb)["claims"] if c["id"] == claim.id)))
        return 0
    out = [f"{claim.id}  [{claim.verdict}]  {claim.kind}, section {claim.section}", "",
           textwrap.fill(f"NL: {claim.text.nl}", 100, subsequent_indent="    "),
           textwrap.fill(f"EN: {claim.text.en}", 100, subsequent_indent="    "), ""]
    if claim.derived_from:
        out += [f"Summarises: {', '.join(claim.derived_from)}", ""]
    if not claim.evidence:
        out += ["Evidence: none", ""]
    for n, ev in enumerate(claim.evidence, 1):
        text, _ = format_reference(kb, ev.ref, args.style)
        origin = "cited in the article" if ev.cited_in_article else "added by a reviewer"
        out.append(textwrap.fill(f"[{n}] {text}", 100, subsequent_indent="    "))
        ref = kb.references.get(ev.ref)
        if ref is not None and ref.study_type:
            out.append(f"    study type: {ref.study_type}{'' if ref.verified else '  (UNVERIFIED reference)'}")
        out.append(f"    {ev.relation}, certainty {ev.certainty}, {origin}" + (f"; locator: {ev.locator}" if ev.locator else ""))
        if ev.found:
            out.append(textwrap.fill(f"found: {ev.found}", 100, initial_indent="    ", subsequent_indent="    "))
        out.append("")
    out.append(textwrap.fill(f"Verdict: {claim.verdict}" + (f"; {claim.verdict_reason}" if claim.verdict_reason else ""), 100, subsequent_indent="    "))
    out.append(f"Status: {claim.status}" + (f", by {claim.reviewer}" if claim.reviewer else "") + (f" on {claim.reviewed_on}" if claim.reviewed_on else ""))
    if claim.notes:
        out.append(textwrap.fill(f"Notes: {claim.notes}", 100, subsequent_indent="    "))
    emit(args, _printable("\n".join(out)))
    return 0
