"""Helpers for the chapters that must also work outside the book build.

``glue(name, value, display=True)`` is ``myst_nb.glue`` when myst-nb is installed (the
``[book]`` extra: the book's ``{glue:}`` roles then show the value in the text), and
otherwise shows the value in the cell's output, so that a chapter runs unchanged in
Colab or a bare Jupyter with only ``pip install fluoseg``.

``start()`` is what every chapter's first cell calls once the package is importable
(the cell installs it first where it is missing): the profile, printed with the device,
and, during a book build, the chapter's peak memory recorded after every cell
(``record_peak_rss``), which the timing chapter shows (``chapter_resources``). The peak
is what a Binder user's container would hold: the resident memory of the kernel and
all its descendant processes summed at the same moment, sampled every
``SAMPLE_SECONDS`` by a daemon thread (:class:`RssSampler`), next to each process's
own high-water mark, which a sample may miss.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fluoseg import __version__, config
from fluoseg.viz.mpl import register_figure_display


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
    during a book build (``$FLUOSEG_PEAK_RSS`` set), samples the memory of the kernel
    and its descendants and records the peaks after every cell (:func:`track_peak_rss`).
    Inside IPython it also lets the kernel show the book's matplotlib figures
    (``fluoseg.viz.mpl.register_figure_display``).
    """
    prof = config.get_profile(profile)
    gpus = config.gpu_names()
    if profile is not None or os.environ.get(config.PROFILE_ENV, "").strip():
        why = "set by $FLUOSEG_PROFILE" if profile is None else "chosen"
    else:
        why = "a GPU is visible" if gpus else "no GPU visible"
    device = f"GPU {', '.join(gpus)}" if gpus else f"CPU, {os.cpu_count()} cores"
    print(f"fluoseg {__version__}: profile {prof.name} ({why}); device: {device}")
    track_peak_rss()
    register_figure_display()
    return prof


SAMPLE_SECONDS = 0.2
"""Interval of :class:`RssSampler` during a book build."""
_SAMPLER: list[RssSampler] = []


def _ppid_map(proc: Path = Path("/proc")) -> dict[int, int]:
    """``{pid: parent pid}`` of every process visible in ``/proc`` (Linux)."""
    parents = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1:
            parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (children, grandchildren, ...) now; Linux only."""
    children: dict[int, list[int]] = {}
    for child, parent in _ppid_map().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def rss_mib(pid: int) -> float:
    """Resident memory (MiB) of process ``pid`` now (``/proc/<pid>/statm``, as
    ``VmRSS``); 0 when it has ended or ``/proc`` is missing."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def tree_rss_mib(pid: int | None = None) -> tuple[float, float]:
    """``(total, own)`` resident memory (MiB) now: process ``pid`` (default: this one)
    plus all its live descendants, and ``pid`` alone. Pages that two processes share
    (libraries, copy-on-write) count once per process, as in ``ps`` or ``top``."""
    pid = os.getpid() if pid is None else pid
    own = rss_mib(pid)
    return own + sum(rss_mib(p) for p in descendants(pid)), own


class RssSampler:
    """A daemon thread that samples :func:`tree_rss_mib` every ``interval`` seconds and
    keeps the largest total (``peak_mib``); :meth:`sample` also takes one at once."""

    def __init__(self, interval: float = SAMPLE_SECONDS, pid: int | None = None):
        import threading

        self.interval = interval
        self.pid = os.getpid() if pid is None else pid
        self.peak_mib = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="fluoseg-rss-sampler", daemon=True
        )

    def sample(self) -> float:
        """Take one sample now; returns the total (MiB)."""
        total, _ = tree_rss_mib(self.pid)
        self.peak_mib = max(self.peak_mib, total)
        self.samples += 1
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception:  # pragma: no cover - /proc vanished: stop quietly
                return

    def start(self) -> RssSampler:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def start_sampler(interval: float = SAMPLE_SECONDS) -> RssSampler | None:
    """Start this process's :class:`RssSampler` (once; Linux only). Returns it, or
    ``None`` where ``/proc`` is missing."""
    if _SAMPLER:
        return _SAMPLER[0]
    if not Path(f"/proc/{os.getpid()}/statm").is_file():
        return None
    _SAMPLER.append(RssSampler(interval).start())
    return _SAMPLER[0]


CHILD_PEAKS_MIB: list[float] = []
"""Peak RSS (MiB) of each child process this process ran for a training
(``fluoseg.training.trainer.train``'s ``isolate``), as the child measured it."""


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
    """Peak resident memory, MiB.

    ``total``: the largest sum of this process's and all its descendants' resident
    memory at one moment, as the running :class:`RssSampler` sampled it (plus one
    sample now; without a sampler, the sum now), raised to ``self`` or ``children`` if
    either is larger, as a peak between two samples can be. ``self``: this process's
    own high-water mark; ``children``: the largest high-water mark of a child process
    it ran (:data:`CHILD_PEAKS_MIB`); ``self_plus_children``: their sum, an upper bound
    of ``total`` for the processes measured (the two maxima need not coincide).
    """
    own = own_peak_mib()
    kids = max(CHILD_PEAKS_MIB, default=0.0)
    if _SAMPLER:
        _SAMPLER[0].sample()
        sampled = _SAMPLER[0].peak_mib
    else:
        sampled = tree_rss_mib()[0]
    return {
        "total": max(sampled, own, kids),
        "sampled": sampled,
        "self": own,
        "children": kids,
        "self_plus_children": own + kids,
    }


def record_peak_rss(path: Any = None, key: str | None = None) -> dict | None:
    """Write :func:`peak_rss_mib` under ``key`` in the JSON file ``path`` (defaults:
    ``$FLUOSEG_PEAK_RSS`` and ``$FLUOSEG_NOTEBOOK``); nothing without both."""
    import json

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
    entry["sample_seconds"] = _SAMPLER[0].interval if _SAMPLER else None
    table[key] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(table, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return entry


def track_peak_rss() -> bool:
    """During a book build (``$FLUOSEG_PEAK_RSS`` set, in an IPython kernel): start the
    :class:`RssSampler` and call :func:`record_peak_rss` after every cell (once per
    kernel; no thread otherwise). Returns whether it is tracking."""

    if _HOOKED or not os.environ.get(PEAK_RSS_ENV, "").strip():
        return bool(_HOOKED)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with any Jupyter
        return False
    shell = get_ipython()
    if shell is None:
        return False
    start_sampler()
    shell.events.register("post_run_cell", lambda *_: record_peak_rss())
    _HOOKED.append(True)
    record_peak_rss()
    return True


def chapter_resources(build_dir: Any = None) -> Any:
    """Each chapter's execution seconds and peak memory (MiB) in the book build.

    Seconds come from the build's jupyter-cache (``<build>/.jupyter_cache``, the
    ``execution_seconds`` myst-nb stores; needs the ``[book]`` extra), memory from
    ``<build>/peak_rss.json`` (:func:`record_peak_rss`): ``peak_rss_mib`` the kernel and
    its descendants together (``total`` of :func:`peak_rss_mib`; missing in a record
    written before it was measured), ``kernel_mib`` and ``child_mib`` each process's
    own high-water mark. A chapter that the build took from the cache keeps the
    numbers of its last execution. ``build_dir`` defaults to ``_build`` in the checkout.
    Returns a DataFrame indexed by chapter (empty when the book was not built here).
    """
    import json

    import pandas as pd

    root = config.repo_root()
    build = Path(build_dir) if build_dir else (root or Path.cwd()) / "_build"
    base = build.resolve().parent
    rows: dict[str, dict] = {}
    peak = build / "peak_rss.json"
    if peak.is_file():
        for key, entry in json.loads(peak.read_text(encoding="utf-8")).items():
            row = rows.setdefault(key, {})
            row["peak_rss_mib"] = entry.get("total")
            row["kernel_mib"] = entry.get("self")
            row["child_mib"] = entry.get("children")
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
    columns = ["seconds", "peak_rss_mib", "kernel_mib", "child_mib"]
    frame = frame.reindex(columns=columns).sort_index()
    frame.index.name = "chapter"
    return frame
