"""Helpers for the chapters that must also work outside the book build.

``glue(name, value, display=True)`` is ``myst_nb.glue`` when myst-nb is installed (the
``[book]`` extra: the book's ``{glue:}`` roles then show the value in the text), and
otherwise shows the value in the cell's output, so that a chapter runs unchanged in
Colab or a bare Jupyter with only ``pip install fluoseg``.

``start()`` is what every chapter's first cell calls once the package is importable
(the cell installs it first where it is missing): the profile, printed with the device,
and, during a book build, the kernel's peak memory recorded after every cell
(``record_peak_rss``), which the timing chapter shows (``chapter_resources``).
"""

from __future__ import annotations

import os
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
    quotes. With myst-nb but outside a book build (``$FLUOSEG_NOTEBOOK`` unset:
    JupyterLab, a plain viewer of the executed notebook) a ``display=False`` value is
    printed the same way, since only the book build fills in ``{glue:text}``. The
    signature and the default are those of ``myst_nb.glue``.
    """
    book_glue = _myst_nb_glue()
    if book_glue is not None:
        book_glue(name, value, display=display)
        if display or os.environ.get(NOTEBOOK_ENV, "").strip():
            return  # shown by myst-nb, or in the book build's text
        # a reader in JupyterLab or another viewer sees the {glue:} role unresolved
        print(f"{name} = {_plain(value)}")
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
    print(f"{name} = {_plain(value)}")


def _plain(value: Any) -> str:
    """``value`` as one short line: floats to 4 significant digits."""
    try:
        import numpy as np

        if isinstance(value, (float, np.floating)):
            return f"{float(value):.4g}"
    except ImportError:  # pragma: no cover - numpy comes with the package
        pass
    return str(value)


# ---------------------------------------------------------------- first cell
PEAK_RSS_ENV = "FLUOSEG_PEAK_RSS"
"""Environment variable: the JSON file where each chapter's peak memory is recorded
(set by the book build's ``_ext/peak_memory.py`` to ``_build/peak_rss.json``)."""
NOTEBOOK_ENV = "FLUOSEG_NOTEBOOK"
"""Environment variable: the chapter being executed (its Sphinx docname)."""
_HOOKED: list[bool] = []


def start(profile: Any = None) -> Any:
    """What every chapter's first cell does once ``fluoseg`` is importable.

    Returns the profile (:func:`fluoseg.config.get_profile`: ``$FLUOSEG_PROFILE``, else
    ``gpu`` when TensorFlow sees a GPU, else ``cpu``), prints it with the device, and,
    during a book build (``$FLUOSEG_PEAK_RSS`` set), records the kernel's peak memory
    after every cell (:func:`record_peak_rss`).
    """

    from fluoseg import __version__
    from fluoseg.config import PROFILE_ENV, get_profile, gpu_names

    prof = get_profile(profile)
    gpus = gpu_names()
    if profile is not None or os.environ.get(PROFILE_ENV, "").strip():
        why = "set by $FLUOSEG_PROFILE" if profile is None else "chosen"
    else:
        why = "a GPU is visible" if gpus else "no GPU visible"
    device = f"GPU {', '.join(gpus)}" if gpus else f"CPU, {os.cpu_count()} cores"
    print(f"fluoseg {__version__}: profile {prof.name} ({why}); device: {device}")
    track_peak_rss()
    return prof


CHILD_PEAKS_MIB: list[float] = []
"""Peak RSS (MiB) of each child process this process ran for a training
(``fluoseg.train.train``'s ``isolate``), as the child measured it."""


def own_peak_mib() -> float:
    """This process's peak resident memory in MiB since it started its program.

    Linux: ``VmHWM`` of ``/proc/self/status``. ``ru_maxrss`` is not used there: a
    process started by fork/vfork + exec inherits its parent's peak in it (the kernel
    records the old memory map's peak at exec), so a kernel started by a 1 GiB
    ``jupyter-book`` process would report at least 1 GiB. Elsewhere ``ru_maxrss``.
    """
    import resource
    import sys

    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 2**20


def peak_rss_mib() -> dict[str, float]:
    """Peak resident memory, MiB: this process (``self``), its largest training child
    process (``children``: :data:`CHILD_PEAKS_MIB`) and their sum (``peak``, an upper
    bound of what the two held at once: the kernel waits while its child trains)."""
    own = own_peak_mib()
    kids = max(CHILD_PEAKS_MIB, default=0.0)
    return {"peak": own + kids, "self": own, "children": kids}


def record_peak_rss(path: Any = None, key: str | None = None) -> dict | None:
    """Write :func:`peak_rss_mib` under ``key`` in the JSON file ``path`` (defaults:
    ``$FLUOSEG_PEAK_RSS`` and ``$FLUOSEG_NOTEBOOK``); nothing without both."""
    import json
    from pathlib import Path

    path = path or os.environ.get(PEAK_RSS_ENV, "").strip()
    key = key or os.environ.get(NOTEBOOK_ENV, "").strip()
    if not path or not key:
        return None
    path = Path(path)
    try:
        table = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        table = {}
    entry = {k: round(v, 1) for k, v in peak_rss_mib().items()}
    table[key] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(table, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return entry


def track_peak_rss() -> bool:
    """Call :func:`record_peak_rss` after every cell of this IPython kernel (once per
    kernel; only when ``$FLUOSEG_PEAK_RSS`` is set). Returns whether it is tracking."""

    if _HOOKED or not os.environ.get(PEAK_RSS_ENV, "").strip():
        return bool(_HOOKED)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with any Jupyter
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.events.register("post_run_cell", lambda *_: record_peak_rss())
    _HOOKED.append(True)
    record_peak_rss()
    return True


def chapter_resources(build_dir: Any = None) -> Any:
    """Each chapter's execution seconds and peak memory (MiB) in the book build.

    Seconds come from the build's jupyter-cache (``<build>/.jupyter_cache``, the
    ``execution_seconds`` myst-nb stores; needs the ``[book]`` extra), peak memory from
    ``<build>/peak_rss.json`` (:func:`record_peak_rss`). A chapter that the build took
    from the cache keeps the numbers of its last execution. ``build_dir`` defaults to
    ``_build`` in the checkout. Returns a DataFrame indexed by chapter (empty when the
    book was not built here).
    """
    import json
    from pathlib import Path

    import pandas as pd

    from fluoseg.config import repo_root

    root = repo_root()
    build = Path(build_dir) if build_dir else (root or Path.cwd()) / "_build"
    base = build.resolve().parent
    rows: dict[str, dict] = {}
    peak = build / "peak_rss.json"
    if peak.is_file():
        for key, entry in json.loads(peak.read_text(encoding="utf-8")).items():
            rows.setdefault(key, {})["peak_rss_mib"] = entry.get("peak")
    try:
        from jupyter_cache import get_cache
    except ImportError:
        get_cache = None
    if get_cache is not None and (build / ".jupyter_cache" / "global.db").is_file():
        records = get_cache(str(build / ".jupyter_cache")).list_cache_records()
        for rec in sorted(records, key=lambda r: r.created):
            uri = Path(rec.uri)
            try:
                key = str(uri.resolve().relative_to(base).with_suffix(""))
            except ValueError:
                key = str(uri.with_suffix(""))
            seconds = (rec.data or {}).get("execution_seconds")
            rows.setdefault(key, {})["seconds"] = seconds
    frame = pd.DataFrame.from_dict(rows, orient="index", dtype=float)
    frame = frame.reindex(columns=["seconds", "peak_rss_mib"]).sort_index()
    frame.index.name = "chapter"
    return frame
