"""The ``inverter`` command (also ``python -m inverter``).

Commands::

    inverter invert IMAGE -r NAME[:LAYER] [options]      # one inversion (the default command)
    inverter experiment KIND -r FAMILY[:LAYER] [options] # one of the paper's experiments
    inverter evaluate FOLDER -r R[,R…] --out DIR         # the paper's errors over an image folder
    inverter list [FAMILY]                               # the representations and their layers
    inverter --config FILE.json [options]                # re-run a report or repeat an experiment

The forms of the first release keep working: ``python -m inverter IMAGE -r …`` (invert),
``--experiment KIND`` and ``--list-experiments`` (experiments), ``--list`` (list).
``--config`` dispatches on the document's ``format``.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from . import evaluate, experiment, invert, listing

COMMANDS = {"invert": invert.main, "experiment": experiment.main, "list": listing.main, "evaluate": evaluate.main}

USAGE = """usage: inverter {invert,experiment,evaluate,list} ...  |  inverter --config FILE.json [options]

  invert IMAGE -r NAME[:LAYER] [options]       reconstruct an image from its representation
  experiment KIND -r FAMILY[:LAYER] [options]  run one of the paper's experiments (a grid of inversions)
  evaluate FOLDER -r R[,R…] --out DIR          the paper's errors over an image folder (resumable; local or Ray)
  list [FAMILY]                                the representations, their layers and presets
  --config FILE.json                           re-run a report, or repeat an experiment

'inverter COMMAND --help' describes each command's options."""


def _config_path(argv: Sequence[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return None


def dispatch(argv: Sequence[str]) -> tuple[str, list[str], Any]:
    """Which command ``argv`` asks for: ``(command, its arguments, the --config document or None)``.

    ``command`` is ``"help"``, ``"invert"``, ``"experiment"`` or ``"list"``. A ``--config``
    file is read once, here; one that cannot be read is left to the invert command to report.
    """
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        return "help", [], None
    if argv[0] in COMMANDS:
        command, rest = argv[0], argv[1:]
        if command == "experiment" and rest and not rest[0].startswith("-"):
            rest = ["--experiment", rest[0], *rest[1:]]  # KIND is positional in this form
        return command, rest, None
    if any(a in ("--experiment", "--list-experiments") or a.startswith("--experiment=") for a in argv):
        return "experiment", argv, None
    if "--list" in argv:
        return "list", [], None
    path = _config_path(argv)
    if path is None:
        return "invert", argv, None
    from ..documents import read_document
    from ..errors import InverterError

    try:
        document = read_document(path)
    except InverterError:
        return "invert", argv, None
    return ("experiment" if document.kind == "experiment" else "invert"), argv, document


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        return _run(argv)
    except BrokenPipeError:
        # the reader went away (``inverter --help | head``): no traceback; Python's own advice
        # is to point stdout at devnull so that the interpreter's last flush cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports it


def _run(argv: Sequence[str] | None) -> int:
    command, rest, document = dispatch(sys.argv[1:] if argv is None else argv)
    if command == "help":
        print(USAGE)
        return 0
    prog = f"inverter {command}" if argv and list(argv)[:1] == [command] else "inverter"
    if command == "list":
        return listing.main(rest, prog=prog)
    return COMMANDS[command](rest, document, prog=prog)
