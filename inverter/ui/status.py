"""Status lines of the app: a progress bar that screen readers announce as one."""
from __future__ import annotations

import html


def progress_bar(fraction: float, label: str = "Progress") -> str:
    """Markdown: a native ``<progress>`` bar (a screen reader announces "progress bar, 42 percent"; Gradio's
    Markdown sanitiser keeps the element and its value, but drops ``aria-*`` attributes, so a bar of
    block characters could only be read out character by character), then the percentage as text."""
    fraction = min(max(float(fraction), 0.0), 1.0)
    percent = round(100 * fraction)
    return f'<progress value="{percent}" max="100" title="{html.escape(label)}">{percent}%</progress> {percent}%'
