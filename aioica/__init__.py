"""aioica."""
