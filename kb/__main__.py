"""``python -m kb`` runs the command-line interface."""

from .cli import run

run()
