"""A description of the machine and libraries a result was computed with.

Every training run stores ``hardware.json`` (``describe()``) next to its timings, so
that a number in the book can be traced to the CPU, memory and library versions that
produced it.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from fluoseg import __version__
from fluoseg.errors import require_tensorflow


def _cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, else ``platform``)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def _usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except ImportError:
        return None
    return str(getattr(mod, "__version__", "unknown"))


def describe(with_tensorflow: bool = True) -> dict:
    """The hardware and software this process runs on, as a JSON-serialisable dict.

    Keys: ``cpu_model``, ``cpu_cores_logical``, ``cpu_cores_usable``,
    ``cpu_cores_physical``, ``ram_gb``, ``gpus`` (names, empty on CPU), ``platform``,
    ``python`` and ``versions`` (fluoseg, numpy, tensorflow, keras, ...).
    ``with_tensorflow=False`` skips importing TensorFlow (GPU list and its version
    are then ``None``).
    """
    import numpy as np
    import psutil

    gpus: list[str] | None = None
    versions = {
        "fluoseg": __version__,
        "numpy": np.__version__,
        "scipy": _version("scipy"),
        "pandas": _version("pandas"),
        "tensorflow": None,
        "keras": None,
    }
    if with_tensorflow:
        require_tensorflow()
        import keras
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
        versions["keras"] = keras.__version__
        gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {
        "cpu_model": _cpu_model(),
        "cpu_cores_logical": os.cpu_count(),
        "cpu_cores_usable": _usable_cores(),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 2),
        "gpus": gpus,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }
