"""The argument parser every command uses: malformed arguments give one line and exit status 2."""
from __future__ import annotations

import argparse
from typing import NoReturn

from .errors import EXIT_USAGE


class Parser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose errors are one ``error: …`` line (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")
