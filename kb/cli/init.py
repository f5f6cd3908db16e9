"""kb init: create a new knowledge base with one example of each file."""

from __future__ import annotations

import sys

from ._common import name


def register(subparsers) -> None:
    p = subparsers.add_parser("init", help="create a new knowledge base in DIR",
                              description="Create a new, valid knowledge base in DIR: kb.yaml, claims/, references/, articles/ with one "
                                          "example each, schema/ for editors and a README.md with next steps. Refuses a folder that "
                                          "already holds a knowledge base (kb.yaml or claims/). See docs/extract.md.")
    p.add_argument("directory", metavar="DIR", type=name("a folder"), help="the folder to create (it may exist, if it holds no knowledge base)")
    p.add_argument("--title", help="title in kb.yaml (default: from the folder name)")
    p.add_argument("--lang", choices=["en", "nl"], default="en", help="main language of the articles (default: en)")
    p.set_defaults(handler=cmd_init)


def cmd_init(args) -> int:
    from ..scaffold import init_kb

    written = init_kb(args.directory, title=args.title, language=args.lang)
    if not args.quiet:
        for path in written:
            print(f"wrote {path}", file=sys.stderr)
        print(f"created a knowledge base in {args.directory}; next: kb --kb {args.directory} extract ARTICLE --bib REFS "
              f"(see {args.directory}/README.md)", file=sys.stderr)
    return 0
