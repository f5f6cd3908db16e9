"""kb check: load and validate; report every problem compiler-style."""

from __future__ import annotations

from ._common import emit, has_errors, load_checked, print_diagnostics, summary_line, to_json


def register(subparsers) -> None:
    p = subparsers.add_parser("check", help="validate claims, references and articles",
                              description="Validate the knowledge base and report every problem as path:line:col: severity: message [code]. "
                                          "Exit 0 when clean or warnings only, 1 on errors (or warnings with --strict).")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors for the exit code")
    p.add_argument("--ignore", metavar="CODE", action="append", default=[], help="ignore diagnostics with this code (repeatable); see docs/errors.md")
    p.add_argument("--format", choices=["text", "json"], default="text", help="text (stderr, one line each) or json (stdout)")
    p.set_defaults(handler=cmd_check)


def cmd_check(args) -> int:
    kb, diagnostics = load_checked(args, ignore=args.ignore)
    failed = has_errors(diagnostics) or (args.strict and bool(diagnostics))
    if args.format == "json":
        emit(args, to_json({"ok": not failed, "summary": summary_line(diagnostics), "claims": len(kb.claims),
                            "references": len(kb.references), "diagnostics": [d.as_dict() for d in diagnostics]}))
    else:
        print_diagnostics(diagnostics, quiet=args.quiet)
        if not diagnostics and not args.quiet:
            import sys
            print(f"ok: {len(kb.claims)} claims, {len(kb.references)} references, {len(kb.articles)} article(s); no problems", file=sys.stderr)
    return 1 if failed else 0
