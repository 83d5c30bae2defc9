"""``python -m hdus_sim.cli`` runs the CLI (as ``python -m hdus_sim`` does)."""

from hdus_sim.cli.app import main

main()
