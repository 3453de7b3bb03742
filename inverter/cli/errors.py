"""How every command reports failures: one ``error:`` line for what a user can fix, a traceback for bugs."""
from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

from ..errors import InverterError, first_line

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def run_reporting_errors(action: Callable[[], int], debug: bool) -> int:
    """Run ``action`` and return its exit status.

    An :class:`~inverter.errors.InverterError` (or an ``OSError``: a file that cannot be
    written, a full disk) becomes one ``error: …`` line on stderr and :data:`EXIT_ERROR`;
    Ctrl-C gives :data:`EXIT_INTERRUPTED`; anything else is a bug: its traceback is printed
    and the status is :data:`EXIT_ERROR`. With ``debug`` every exception propagates.
    """
    try:
        return action()
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise  # the reader went away: :func:`inverter.cli.main` ends quietly
    except (InverterError, OSError) as err:
        if debug:
            raise
        print(f"error: {first_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:
        if debug:
            raise
        traceback.print_exc(file=sys.stderr)
        print(f"error: internal error, a bug in inverter ({type(err).__name__}: {first_line(err)}); "
              "please report it with the traceback above", file=sys.stderr)  # fmt: skip
        return EXIT_ERROR
