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


def _cpuinfo(field: str) -> str | None:
    """The first value of ``field`` in ``/proc/cpuinfo`` (``None`` off Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(field):
                return line.split(":", 1)[1].strip()
    return None


def _cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, else ``platform``)."""
    name = _cpuinfo("model name") or platform.processor() or platform.machine()
    return name or "unknown"


#: CPU features that decide TensorFlow's CPU speed (``/proc/cpuinfo`` names): without
#: AVX-512 VNNI, BF16 or AMX TensorFlow does not turn oneDNN on by itself.
SIMD_FLAGS: tuple[str, ...] = (
    "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile",
)


def _simd_flags() -> list[str] | None:
    """Which of :data:`SIMD_FLAGS` the CPU has (``None`` where ``/proc/cpuinfo`` is
    missing): the model name alone ("AMD EPYC") does not tell them apart."""
    flags = _cpuinfo("flags")
    if flags is None:
        return None
    have = set(flags.split())
    return [f for f in SIMD_FLAGS if f in have]


def _onednn_enabled() -> bool | None:
    """Whether TensorFlow's oneDNN kernels are on in this process (``None`` if this
    TensorFlow build does not say)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


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
    ``cpu_cores_physical``, ``cpu_flags`` (:data:`SIMD_FLAGS` present), ``ram_gb``,
    ``gpus`` (names, empty on CPU), ``onednn`` (TensorFlow's oneDNN kernels on),
    ``platform``, ``python`` and ``versions`` (fluoseg, numpy, tensorflow, keras, ...).
    ``with_tensorflow=False`` skips importing TensorFlow (GPU list, oneDNN and its
    version are then ``None``).
    """
    import numpy as np
    import psutil

    gpus: list[str] | None = None
    onednn: bool | None = None
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
        onednn = _onednn_enabled()
    return {
        "cpu_model": _cpu_model(),
        "cpu_cores_logical": os.cpu_count(),
        "cpu_cores_usable": _usable_cores(),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "cpu_flags": _simd_flags(),
        "onednn": onednn,
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 2),
        "gpus": gpus,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }
