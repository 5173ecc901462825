"""Matplotlib figures without pyplot, and how IPython shows them.

The figures of ``fluoseg.viz`` are plain ``matplotlib.figure.Figure`` objects
(:func:`new_figure`), so that a notebook cell shows each exactly once when it returns
one. IPython shows them as PNG once :func:`register_figure_display` has run: each
chapter's first cell runs it (``fluoseg.notebook.start``); running it again in the
same shell changes nothing.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

# The IPython shells (by id) whose PNG formatter already shows Figure objects.
_REGISTERED: set[int] = set()


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib figure (no pyplot needed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def register_figure_display(shell: Any = None) -> bool:
    """Let IPython show matplotlib ``Figure`` objects (made without pyplot) as PNG.

    Registers :func:`figure_png` with the PNG formatter of ``shell`` (default: the
    running IPython shell) once; later calls for the same shell do nothing. Returns
    whether an IPython shell was found.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython is a dependency of the book
            return False
        shell = get_ipython()
    if shell is None:
        return False
    if id(shell) in _REGISTERED:
        return True
    from matplotlib.figure import Figure

    png = shell.display_formatter.formatters["image/png"]
    png.for_type(Figure, figure_png)
    _REGISTERED.add(id(shell))
    return True


def new_figure(width: float, height: float) -> Figure:
    """An empty matplotlib figure (inches); a notebook cell displays it as PNG once
    :func:`register_figure_display` has run (the chapter's first cell)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")
