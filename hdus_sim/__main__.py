"""``python -m hdus_sim`` runs the CLI."""

from hdus_sim.cli import main

main()
