"""Resume after ``kill -9``: the run continues from its last finished epoch.

``python -m fluoseg train --profile smoke`` runs in a subprocess on a tiny dataset; once
the first epoch's checkpoint exists and the run is inside a later epoch it is killed
with SIGKILL, then the same command is run again. The second run must continue the
epoch count (no repeated or missing epoch), leave only loadable files, and reproduce
exactly the losses of an uninterrupted run (weights, optimizer state and the sampler
position are all restored).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fluoseg.run import Run
from fluoseg.training.trainer import train

TESTS = Path(__file__).resolve().parent
EPOCHS = 5


def _command(data: Path, out: Path) -> list[str]:
    # the stand-in dataset reader of test_train is installed while the real one is
    # missing; then the CLI runs exactly as ``python -m fluoseg train ...``
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_train; "
        "test_train.install_dataset_standin(); from fluoseg.cli import main; "
        "sys.exit(main(sys.argv[2:]))"
    )
    return [
        sys.executable,
        "-c",
        code,
        str(TESTS),
        "train",
        "--model",
        "unet",
        "--classes",
        "2",
        "--profile",
        "smoke",
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        str(EPOCHS),
        "--no-progress",
    ]


def _state(out: Path) -> dict | None:
    try:
        return json.loads((out / "checkpoint" / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


@pytest.mark.slow
def test_kill_minus_nine_then_resume(tmp_path: Path) -> None:
    from test_train import install_dataset_standin, write_tiny_dataset

    data = write_tiny_dataset(tmp_path / "data")
    out = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(
        _command(data, out),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            state = _state(out)
            if state and state["epoch"] >= 1:
                break
            if proc.poll() is not None:
                pytest.fail(f"training exited early with {proc.returncode}")
            time.sleep(0.01)
        else:
            pytest.fail("no checkpoint within 120 s")
        time.sleep(0.05)  # inside the next epoch
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    killed_at = _state(out)["epoch"]
    assert 1 <= killed_at < EPOCHS, "the run should have been killed mid-training"
    assert not (out / "segmenter.keras").exists()
    # the files of the interrupted run are complete and consistent
    history = Run.load(out).history
    assert list(history["epoch"]) == list(range(1, killed_at + 1))

    done = subprocess.run(
        _command(data, out), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    run = Run.load(out)
    assert run.finished
    assert list(run.history["epoch"]) == list(range(1, EPOCHS + 1))
    assert len(run.timings["epoch_seconds"]) == EPOCHS
    assert run.segmenter.output_shape[-1] == 2
    state = _state(out)
    assert state["epoch"] == EPOCHS
    assert state["sampler"]["next_step"] == EPOCHS * state["steps_per_epoch"]

    # an uninterrupted run of the same configuration gives the same losses
    install_dataset_standin()
    ref = train(
        "unet",
        2,
        profile="smoke",
        data_dir=data,
        out=tmp_path / "ref",
        epochs=EPOCHS,
        progress=False,
    )
    np.testing.assert_allclose(
        run.history["loss"].to_numpy(), ref.history["loss"].to_numpy(), rtol=1e-4
    )
