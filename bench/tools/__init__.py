"""Measurement tools that no make target runs: `python -m bench.tools.<name>`."""
