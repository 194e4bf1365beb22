"""``python -m latentops`` runs the CLI."""

from latentops.cli import main

main()
