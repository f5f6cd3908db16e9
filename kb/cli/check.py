"""kb check: load and validate; report every problem compiler-style."""

from __future__ import annotations

import argparse
import sys

from ..errors import CODES, KbError, Severity, did_you_mean
from ._common import emit, has_errors, load_checked, print_diagnostics, summary_line, to_json


def _code(value: str) -> str:
    if value not in CODES:
        hint = did_you_mean(value, CODES)
        raise argparse.ArgumentTypeError(f"unknown diagnostic code {value!r}" + (f"; {hint}" if hint else "") + " (the codes: docs/errors.md)")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser("check", help="validate claims, references and articles",
                              description="Validate the knowledge base and report every problem as path:line:col: severity: message; hint [code]. "
                                          "Exit 0 when clean or warnings only, 1 on errors (or warnings with --strict), 2 on usage errors.")
    p.add_argument("--strict", action="store_true", help="fail (exit 1) on warnings too")
    p.add_argument("--ignore", metavar="CODE", type=_code, action="append", default=[],
                   help="drop diagnostics with this code (repeatable); the codes are listed in docs/errors.md")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="text: one line a problem on standard error; json: one document on standard output (docs/errors.md)")
    p.set_defaults(handler=cmd_check)


def cmd_check(args) -> int:
    try:
        kb, diagnostics = load_checked(args, ignore=args.ignore)
    except KbError as exc:
        if args.format != "json":
            raise
        emit(args, to_json({"ok": False, "summary": "1 error, 0 warnings", "errors": 1, "warnings": 0, "claims": 0, "references": 0,
                            "diagnostics": [exc.as_dict()]}))
        return 1
    from ..wording import check_wording

    diagnostics = diagnostics + check_wording(kb.root)  # read by kb audit and kb build: a broken one fails here first
    failed = has_errors(diagnostics) or (args.strict and bool(diagnostics))
    if args.format == "json":
        errors = sum(d.severity is Severity.ERROR for d in diagnostics)
        emit(args, to_json({"ok": not failed, "summary": summary_line(diagnostics), "errors": errors, "warnings": len(diagnostics) - errors,
                            "claims": len(kb.claims), "references": len(kb.references), "diagnostics": [d.as_dict() for d in diagnostics]}))
    else:
        print_diagnostics(diagnostics, quiet=args.quiet)
        if not diagnostics and not args.quiet:
            print(f"ok: {len(kb.claims)} claims, {len(kb.references)} references, {len(kb.articles)} article(s); no problems", file=sys.stderr)
    return 1 if failed else 0
