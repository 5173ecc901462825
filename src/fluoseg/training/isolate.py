"""Running a job (a training, or any picklable call) in a child Python process.

A chapter's Jupyter kernel should never hold TensorFlow's training state (Binder gives
about 2 GiB): ``fluoseg.training.trainer.train`` and the chapters' helpers call
:func:`run_in_subprocess` when :func:`should_isolate` says so, then load what the
child wrote. The child's peak memory is recorded in
``fluoseg.notebook.CHILD_PEAKS_MIB``.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fluoseg import notebook
from fluoseg.errors import InputError

TRAIN_SUBPROCESS_ENV = "FLUOSEG_TRAIN_SUBPROCESS"


def should_isolate(isolate: bool | None) -> bool:
    """Whether to run a job in a child process: ``isolate`` if given, else
    ``$FLUOSEG_TRAIN_SUBPROCESS`` (``1``/``0``) if set, else inside a Jupyter kernel
    only."""
    if isolate is not None:
        return bool(isolate)
    env = os.environ.get(TRAIN_SUBPROCESS_ENV, "").strip().lower()
    if env:
        return env not in ("0", "false", "no")
    return in_jupyter_kernel()


def in_jupyter_kernel() -> bool:
    """Whether this process is a Jupyter kernel (ipykernel's shell is running)."""
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    # both are already imported here (checked above): these imports are free
    from ipykernel.zmqshell import ZMQInteractiveShell
    from IPython import get_ipython

    return isinstance(get_ipython(), ZMQInteractiveShell)


def run_in_subprocess(
    module: str, function: str, kwargs: dict[str, Any], returns: bool = False
) -> Any:
    """Call ``module.function(**kwargs)`` in a child Python process (``kwargs`` are
    pickled), relay its output to ``sys.stderr`` and record its peak memory in
    ``fluoseg.notebook.CHILD_PEAKS_MIB``. The child trains in-process
    (``$FLUOSEG_TRAIN_SUBPROCESS=0``). With ``returns``, the function's (picklable)
    return value is returned; else ``None``.

    Raises:
        InputError: the child failed (its last output is in the message).
    """
    code = (
        "import pickle, sys\n"
        f"from {module} import {function} as function\n"
        "out = function(**pickle.loads(sys.stdin.buffer.read()))\n"
        "if sys.argv[2] != '-':\n"
        "    with open(sys.argv[2], 'wb') as f:\n"
        "        pickle.dump(out, f)\n"
        "from fluoseg.notebook import own_peak_mib\n"
        "open(sys.argv[1], 'w').write(str(own_peak_mib()))\n"
    )
    fd, peak_file = tempfile.mkstemp(prefix="fluoseg-peak-", suffix=".txt")
    os.close(fd)
    out_file = "-"
    if returns:
        fd, out_file = tempfile.mkstemp(prefix="fluoseg-out-", suffix=".pickle")
        os.close(fd)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, peak_file, out_file],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, TRAIN_SUBPROCESS_ENV: "0"},
    )
    tail: list[str] = []
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(pickle.dumps(kwargs))
        proc.stdin.close()
        for chunk in iter(lambda: proc.stdout.read1(8192), b""):  # type: ignore[union-attr]
            text = chunk.decode(errors="replace")
            sys.stderr.write(text)
            sys.stderr.flush()
            tail = (tail + [text])[-20:]
        code_ = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        peak_text = Path(peak_file).read_text().strip()
        Path(peak_file).unlink(missing_ok=True)
        if peak_text:
            notebook.CHILD_PEAKS_MIB.append(float(peak_text))
    if code_ != 0:
        if returns:
            Path(out_file).unlink(missing_ok=True)
        raise InputError(
            f"{module}.{function} in a child process failed (exit code {code_}); its "
            f"last output:\n{''.join(tail)[-3000:]}"
        )
    if not returns:
        return None
    try:
        with open(out_file, "rb") as f:
            return pickle.load(f)
    finally:
        Path(out_file).unlink(missing_ok=True)


def call_isolated(
    function: Callable[..., Any],
    kwargs: dict[str, Any],
    isolate: bool | None = None,
    child_kwargs: dict[str, Any] | None = None,
) -> Any:
    """``function(**kwargs)`` here, or, when :func:`should_isolate` says so, in a
    child process (:func:`run_in_subprocess`, which returns its picklable result)
    with ``child_kwargs`` (default ``kwargs``): e.g. run folders instead of loaded
    runs, so that the child loads them itself."""
    if should_isolate(isolate):
        args = kwargs if child_kwargs is None else child_kwargs
        return run_in_subprocess(function.__module__, function.__name__, args, True)
    return function(**kwargs)
