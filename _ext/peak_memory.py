"""Sphinx extension: record each chapter's peak memory while the book builds.

Before Sphinx reads a document (``source-read``, which comes before myst-nb executes a
notebook and starts its kernel), ``$FLUOSEG_NOTEBOOK`` is set to its docname and
``$FLUOSEG_PEAK_RSS`` to ``_build/peak_rss.json``. The kernel inherits both; the
chapter's first cell (``fluoseg.notebook.start``) then samples, every 0.2 s, the RSS of
the kernel and all its descendant processes (e.g. a training subprocess) together, and
writes the largest sum there after every cell, with each process's own peak beside it.
The timing chapter reads the file (``fluoseg.notebook.chapter_resources``); so that a
first build's timing page lists every other chapter, it is read (and executed) last
(``env-before-read-docs`` reorders the documents to read). Only the standard library is
used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _builder_inited(app: Any) -> None:
    os.environ["FLUOSEG_PEAK_RSS"] = str(Path(app.outdir).parent / "peak_rss.json")


def _source_read(app: Any, docname: str, source: list[str]) -> None:
    os.environ["FLUOSEG_NOTEBOOK"] = docname


#: Documents that report on the whole build: read after every other document.
READ_LAST = ("book/04_experiments/timing",)


def _read_last(app: Any, env: Any, docnames: list[str]) -> None:
    """Move the documents in ``READ_LAST`` to the end of ``docnames`` (in place)."""
    last = [d for d in docnames if d in READ_LAST]
    docnames[:] = [d for d in docnames if d not in READ_LAST] + last


def setup(app: Any) -> dict:
    app.connect("builder-inited", _builder_inited)
    app.connect("source-read", _source_read)
    app.connect("env-before-read-docs", _read_last)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
