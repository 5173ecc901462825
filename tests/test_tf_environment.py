"""TensorFlow settings the package makes before TensorFlow loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHOW = "import os, fluoseg; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))"


def _imported_value(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if env_value is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = env_value
    out = subprocess.run([sys.executable, "-c", SHOW], env=env, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def test_importing_fluoseg_turns_onednn_on_unless_the_user_chose() -> None:
    # TensorFlow leaves oneDNN off on AVX2-only CPUs, where 3D convolutions then run
    # 5-8x slower; the package asks for it, and a user's own choice wins
    assert _imported_value(None) == "1"
    assert _imported_value("0") == "0"


@pytest.mark.slow
def test_a_training_child_process_runs_with_onednn() -> None:
    # training runs in a child process that imports fluoseg before TensorFlow
    code = ("import fluoseg, tensorflow as tf; "
            "from tensorflow.python.util import _pywrap_util_port as p; "
            "print(p.IsMklEnabled())")
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "True"
