"""How both command lines (single inversions and experiments) report failures."""
from __future__ import annotations

import sys
from collections.abc import Callable

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def one_line(err: BaseException) -> str:
    """The first line of an exception's message (a ``KeyError``'s text without quotes)."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    text = str(text).strip()
    return text.splitlines()[0] if text else type(err).__name__


def run_reporting_errors(action: Callable[[], int], debug: bool) -> int:
    """Run ``action``; turn any exception into one ``error: …`` line on stderr.

    Returns ``action``'s exit status, :data:`EXIT_ERROR` after an error, or
    :data:`EXIT_INTERRUPTED` after Ctrl-C. With ``debug`` the exception propagates.
    """
    try:
        return action()
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        if debug:
            raise
        from .engine import DivergenceError
        from .hub import WeightsError

        known = (ValueError, KeyError, OSError, WeightsError, DivergenceError)  # ImageError is a ValueError
        prefix = "" if isinstance(err, known) else f"unexpected {type(err).__name__} (rerun with --debug): "
        print(f"error: {prefix}{one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
