"""``python -m aioica``: the ``aioica`` command (see :mod:`aioica.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m aioica"))
