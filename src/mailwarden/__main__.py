"""``python -m mailwarden`` runs the CLI."""

from .cli import main

main()
