"""The docs cannot drift from the CLI: every command, option and choice that `kb --help` offers is
described in docs/."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from kb.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = {path.name: path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md"))}
PARSER = build_parser()
SUBCOMMANDS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices


def _mentions(text: str, word: str) -> bool:
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


def _pages_about(command: str) -> dict[str, str]:
    pattern = re.compile(r"\bkb (--kb \S+ |-[qv] )*" + re.escape(command) + r"\b")
    return {name: text for name, text in DOCS.items() if pattern.search(text)}


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_option_and_choice_is_documented(command):
    pages = _pages_about(command)
    assert pages, f"no page in docs/ mentions 'kb {command}'"
    text = "\n".join(pages.values())
    missing = []
    for action in SUBCOMMANDS[command]._actions:
        if not action.option_strings or "--help" in action.option_strings:
            continue
        if not any(_mentions(text, opt) for opt in action.option_strings):
            missing.append("/".join(action.option_strings))
        for choice in action.choices or ():
            if not _mentions(text, str(choice)):
                missing.append(f"{'/'.join(action.option_strings)} {choice}")
    assert not missing, f"kb {command}: not described in {sorted(pages)}: {missing}"


def test_global_options_are_documented():
    text = DOCS["commands.md"]
    for action in PARSER._actions:
        if action.option_strings and "--help" not in action.option_strings:
            assert any(_mentions(text, opt) for opt in action.option_strings), action.option_strings

