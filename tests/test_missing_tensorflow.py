"""Without TensorFlow (``pip install fluoseg`` with no extra) the package still imports,
and the parts that need TensorFlow fail with a message naming the extra to install."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from fluoseg.errors import MissingTensorFlowError, require_tensorflow

# Blocks tensorflow in a fresh interpreter: `import tensorflow` raises ImportError and
# importlib.util.find_spec("tensorflow") returns None, as when it is not installed.
HIDE_TF = "import sys; sys.modules['tensorflow'] = None; "


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", HIDE_TF + code], capture_output=True, text=True
    )


def test_require_tensorflow_names_the_extra(monkeypatch) -> None:
    require_tensorflow()  # installed here: no error
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorflow" else real(name, *a),
    )
    with pytest.raises(MissingTensorFlowError, match=r'pip install "fluoseg\[cpu\]"'):
        require_tensorflow()
    assert issubclass(MissingTensorFlowError, ImportError)


@pytest.mark.slow
def test_without_tensorflow_configs_import_and_models_fail_clearly() -> None:
    ok = _run(
        "import fluoseg.run, fluoseg.training.trainer\n"
        "import fluoseg.evaluation.metrics, fluoseg.notebook\n"
        "from fluoseg.models import model_config\n"
        "print(model_config('unet', 'smoke', 2).patch_shape)"
    )
    assert ok.returncode == 0, ok.stderr
    for module in ("fluoseg.models.unet3d", "fluoseg.models.cyclegan"):
        failed = _run(f"import {module}")
        assert failed.returncode == 1
        last = failed.stderr.strip().splitlines()[-1]
        assert last.startswith("fluoseg.errors.MissingTensorFlowError: fluoseg needs")
        assert 'pip install "fluoseg[cpu]"' in last
    built = _run(
        "from fluoseg.models import build_model, model_config\n"
        "build_model('unet', model_config('unet', 'smoke', 2))"
    )
    assert "MissingTensorFlowError" in built.stderr
