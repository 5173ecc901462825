"""Sphinx extension: record each chapter's peak memory while the book builds.

Before Sphinx reads a document (``source-read``, which comes before myst-nb executes a
notebook and starts its kernel), ``$FLUOSEG_NOTEBOOK`` is set to its docname and
``$FLUOSEG_PEAK_RSS`` to ``_build/peak_rss.json``. The kernel inherits both; the
chapter's first cell (``fluoseg.notebook.start``) then writes the kernel's peak RSS
(its own + its largest child's, e.g. a training subprocess) there after every cell.
The timing chapter reads the file (``fluoseg.notebook.chapter_resources``). Only the
standard library is used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _builder_inited(app: Any) -> None:
    os.environ["FLUOSEG_PEAK_RSS"] = str(Path(app.outdir).parent / "peak_rss.json")


def _source_read(app: Any, docname: str, source: list[str]) -> None:
    os.environ["FLUOSEG_NOTEBOOK"] = docname


def setup(app: Any) -> dict:
    app.connect("builder-inited", _builder_inited)
    app.connect("source-read", _source_read)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
