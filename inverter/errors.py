"""The one family of errors whose messages are meant for a user.

Every failure a user can cause (a bad setting, an unknown name, an unreadable image,
weights that cannot be had, a diverging optimisation, a malformed experiment) raises an
:class:`InverterError` whose message says what is wrong and, where there is one, the fix.
Front ends show ``str(error)`` for these and nothing else; any other exception is a bug
and is shown as one (the CLI prints its traceback, the app logs it and says so).

Each class also derives from the built-in type that callers caught before this family
existed (``ValueError``, ``KeyError``, ``RuntimeError``), so ``except ValueError`` keeps
working.
"""
from __future__ import annotations


class InverterError(Exception):
    """Base class: something the user asked for cannot be done; the message says why."""


class SettingError(InverterError, ValueError):
    """An inversion setting is malformed or out of range; the message names the setting."""


class UnknownNameError(InverterError, KeyError, ValueError):
    """An unknown representation, layer or experiment name; the message lists the known ones.

    A ``KeyError`` for callers that look names up, a ``ValueError`` for those that
    validate requests (the experiments' callers caught that).
    """

    def __str__(self) -> str:  # KeyError's str() would quote the message
        return str(self.args[0]) if self.args else ""


class ImageError(InverterError, ValueError):
    """An input that cannot be used as an image; the message says why."""


class WeightsError(InverterError, RuntimeError):
    """Pretrained weights could not be had, or do not fit the model; the message says how to fix it."""


class DivergenceError(InverterError, RuntimeError):
    """The optimisation produced non-finite values."""


class ExperimentError(InverterError, ValueError):
    """A bad experiment spec or parameter; the message says which and why."""


class UserError(InverterError, ValueError):
    """A problem with a request to a front end (a missing upload, a request over the server's limits)."""


def first_line(err: BaseException) -> str:
    """The first line of an error's message, or its class name when it has none."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
