"""Status of the app's runs: a progress bar that screen readers announce as one, and the runs
under way by session (what Stop waits for)."""
from __future__ import annotations

import collections
import contextlib
import html
import threading
from collections.abc import Iterator


def progress_bar(fraction: float, label: str = "Progress") -> str:
    """Markdown: a native ``<progress>`` bar (a screen reader announces "progress bar, 42 percent"; Gradio's
    Markdown sanitiser keeps the element and its value, but drops ``aria-*`` attributes, so a bar of
    block characters could only be read out character by character), then the percentage as text."""
    fraction = min(max(float(fraction), 0.0), 1.0)
    percent = round(100 * fraction)
    return f'<progress value="{percent}" max="100" title="{html.escape(label)}">{percent}%</progress> {percent}%'


class Runs:
    """The runs under way in this process, by browser session: what Stop waits for.

    Stop cancels a run and shows "Stopped"; an update the run sent just before it was cancelled
    could still arrive after that line and put "Running" back. So the Stop handler waits until the
    session's runs have ended (:meth:`wait_ended`), and runs through the queue, whose messages
    reach the browser in order.
    """

    def __init__(self) -> None:
        self._ended = threading.Condition()
        self._sessions: collections.Counter[str] = collections.Counter()
        self.started = 0

    @property
    def active(self) -> int:
        """Runs under way now, all sessions together."""
        return sum(self._sessions.values())

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Count a run of the current session (Gradio's request) while the block runs."""
        session = current_session()
        with self._ended:
            self._sessions[session] += 1
            self.started += 1
        try:
            yield
        finally:
            with self._ended:
                self._sessions[session] -= 1
                self._ended.notify_all()

    def wait_ended(self, session: str, timeout: float = 10.0) -> bool:
        """Wait until ``session`` has no run under way (at most ``timeout`` seconds); whether it has none."""
        with self._ended:
            return self._ended.wait_for(lambda: self._sessions[session] <= 0, timeout)


def current_session() -> str:
    """The browser session of the event being handled (``""`` outside one)."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    return str(getattr(request, "session_hash", "") or "")
