"""Helpers for the chapters that must also work outside the book build.

``glue(name, value, display=True)`` is ``myst_nb.glue`` when myst-nb is installed (the
``[book]`` extra: the book's ``{glue:}`` roles then show the value in the text), and
otherwise shows the value in the cell's output, so that a chapter runs unchanged in
Colab or a bare Jupyter with only ``pip install fluoseg``.
"""

from __future__ import annotations

from typing import Any


def _myst_nb_glue() -> Any:
    """``myst_nb.glue``, or ``None`` when myst-nb is not installed."""
    try:
        from myst_nb import glue
    except ImportError:
        return None
    return glue


def glue(name: str, value: Any, display: bool = True) -> None:
    """Store ``value`` under ``name`` for the book's ``{glue:}`` roles (myst-nb).

    Without myst-nb the value is shown instead: displayed as a cell output when
    ``display`` (as myst-nb would), else printed as ``name = value`` on one line, so
    that a reader without the book's text around the cell still sees what the text
    quotes. The signature and the default are those of ``myst_nb.glue``.
    """
    book_glue = _myst_nb_glue()
    if book_glue is not None:
        book_glue(name, value, display=display)
        return
    if display:
        try:
            from IPython import get_ipython
            from IPython.display import display as ipython_display
        except ImportError:  # pragma: no cover - IPython comes with any Jupyter
            ipython_display = None
        else:
            if get_ipython() is None:
                ipython_display = None
        if ipython_display is not None:
            ipython_display(value)
            return
    print(f"{name} = {value}")
