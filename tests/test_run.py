"""fluoseg.run without the trainer: ``fluoseg predict`` loads runs only, and
``Run.predict`` slides its window through ``fluoseg.inference.predict_padded``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from fluoseg.inference import predict_padded, predict_volume


def test_predict_command_does_not_import_the_trainer() -> None:
    code = (
        "import sys\nimport fluoseg.commands.predict, fluoseg.run, fluoseg.chunked\n"
        "print('fluoseg.training.trainer' in sys.modules, 'tensorflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False False"


def test_predict_padded_pads_a_small_volume_and_crops_back() -> None:
    rng = np.random.default_rng(0)
    small = rng.random((3, 5, 9, 2), dtype=np.float32)

    def first_channel(batch: np.ndarray) -> np.ndarray:
        assert batch.shape[1:4] == (4, 8, 8)  # the network sees whole windows only
        return batch[..., :1]

    out = predict_padded(first_channel, small, (4, 8, 8), blending="constant")
    assert out.shape == (3, 5, 9, 1)
    np.testing.assert_allclose(out, small[..., :1], atol=1e-6)
    big = rng.random((8, 16, 16, 2), dtype=np.float32)
    kw = {"overlap": 0.5, "batch_size": 2, "blending": "gaussian"}
    np.testing.assert_array_equal(
        predict_padded(first_channel, big, (4, 8, 8), **kw),
        predict_volume(first_channel, big, (4, 8, 8), **kw),
    )
