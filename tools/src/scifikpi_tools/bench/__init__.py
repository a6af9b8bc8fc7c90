"""Benchmarks that anyone can rerun on loopback (`uv run python -m scifikpi_tools.bench.<name>`)."""
