"""How the app shows failures: a user's mistake as its message, a bug as a bug.

An :class:`~inverter.errors.InverterError` becomes a :class:`gradio.Error` with its message
and nothing in the log; running out of memory gets a message of its own; anything else
is a bug: its traceback goes to the server log and the page says so in general
words (no server internals in the page), while the server keeps serving.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import gradio as gr

from ..errors import InverterError, first_line

log = logging.getLogger(__name__)
#: What the page says of a bug; the details go to the server log only.
INTERNAL_ERROR = ("Internal error, a bug in inverter. The server is still running; the traceback is in its "
                  "log: please report it.")
T = TypeVar("T")


def user_message(err: BaseException) -> str:
    """The text a user sees for ``err`` (a bug is logged with its traceback)."""
    if isinstance(err, InverterError):
        return str(err)
    if isinstance(err, MemoryError) or "out of memory" in str(err).lower():
        return "Out of memory: use a smaller image size or fewer restarts."
    log.error("unexpected error in the app: %s: %s", type(err).__name__, first_line(err), exc_info=err)
    return INTERNAL_ERROR


@contextmanager
def user_errors(title: str = "Cannot run") -> Iterator[None]:
    """Turn any exception raised inside into a :class:`gradio.Error` with a readable message."""
    try:
        yield
    except gr.Error:
        raise
    except InverterError as err:
        raise gr.Error(user_message(err), title=title) from None  # expected: no traceback in the log
    except Exception as err:
        raise gr.Error(user_message(err), title=title) from err


def guarded(iterator: Iterator[T], title: str = "The inversion failed") -> Iterator[T]:
    """Iterate ``iterator``, turning its exceptions into :class:`gradio.Error`; closing this
    generator closes ``iterator`` (so a Stop reaches the engine loop)."""
    try:
        while True:
            with user_errors(title):
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
