"""kb audit: every problem of the knowledge base, ranked by severity, as Markdown, JSON or HTML;
``--fail-on`` turns it into a CI gate."""

from __future__ import annotations

import sys

from ..errors import ConfigError
from ..model import UI_LANGUAGES
from ._common import add_output_options, check_templates_dir, emit, graph_for, load_valid, name, year

FAIL_LEVELS = ("error", "warning", "never")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "audit",
        help="the audit report: every problem ranked by severity; --fail-on for CI",
        description="List every problem of the knowledge base, most severe first: claims the sources do not back, misdescribed, "
                    "retracted or unidentified sources (errors); overstated, uncited or strongly worded claims, unverified references, "
                    "citations that disagree with the publication, missing DOIs (warnings); single-source claims, old sources, "
                    "missing PMIDs, draft claims (info). With coverage figures and charts. Codes: docs/audit.md.",
    )
    add_output_options(p, ["md", "json", "html"], "md")
    p.add_argument("--fail-on", choices=FAIL_LEVELS, default="never",
                   help="exit 1 when a problem of this severity or worse exists (default: never)")
    p.add_argument("--lang", choices=UI_LANGUAGES, help="language of the report's words (default: the knowledge base's)")
    p.add_argument("--as-of", metavar="YEAR", type=year, help="count source ages from this year (default: the current year), for reproducible reports")
    p.add_argument("--templates", metavar="DIR", type=name("a folder"), help="a folder of templates that override the built-in ones by name")
    p.add_argument("--limit", metavar="N", type=_count,
                   help="--format html: list at most N problems of each code and name at most N claims per problem "
                        "(default: 100; 0: everything); counts stay complete, and md and json always list everything")
    p.set_defaults(handler=cmd_audit)


def _count(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {text!r}")
    return value


def cmd_audit(args) -> int:
    from ..audit import SEVERITIES, build_audit, render_audit

    if args.limit is not None and args.format != "html":
        raise ConfigError(f"--limit applies to --format html only; --format {args.format} always lists every problem")
    kb = load_valid(args)
    check_templates_dir(args)
    audit = build_audit(kb, graph_for(kb), as_of=args.as_of)
    emit(args, render_audit(kb, audit, args.format, lang=args.lang, templates=args.templates, limit=args.limit))
    counts = ", ".join(f"{audit.counts[s]} {s}{'s' * (audit.counts[s] != 1 and s != 'info')}" for s in SEVERITIES)
    if not args.quiet:
        print(f"kb audit: {counts}", file=sys.stderr)
    if args.fail_on != "never" and audit.at_or_above(args.fail_on):
        n = len(audit.at_or_above(args.fail_on))
        print(f"kb audit: failing: {n} problem{'s' * (n != 1)} at or above {args.fail_on!r} (--fail-on {args.fail_on})", file=sys.stderr)
        return 1
    return 0
