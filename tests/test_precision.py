"""fluoseg.models.with_precision: a bfloat16 copy of a segmenter, same weights."""

from __future__ import annotations

import numpy as np
import pytest

from fluoseg.errors import InputError
from fluoseg.models import (
    build_model,
    model_config,
    segmenter,
    with_precision,
)


@pytest.mark.parametrize("name", ["unet", "vox2vox", "cyclegan"])
def test_bfloat16_copy_matches_float32(name):
    net = segmenter(build_model(name, model_config(name, "smoke", 2)))
    assert with_precision(net, "float32") is net
    bf = with_precision(net, "bfloat16")
    x = np.random.default_rng(0).random((2, 16, 16, 16, 2), dtype=np.float32)
    ref = np.asarray(net.predict_on_batch(x))
    out = np.asarray(bf.predict_on_batch(x))
    # probabilities stay float32 (the output layer keeps its policy) and agree to
    # bf16 rounding; the weights are the float32 network's, unchanged
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert 0.0 < np.abs(out - ref).max() < 0.05
    assert bf.layers[-1].dtype_policy.name == "float32"
    policies = {layer.dtype_policy.name for layer in bf.layers[1:-1]}
    assert "mixed_bfloat16" in policies
    for a, b in zip(net.get_weights(), bf.get_weights(), strict=True):
        assert b.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_unknown_precision_is_refused():
    net = segmenter(build_model("unet", model_config("unet", "smoke", 2)))
    with pytest.raises(InputError, match="precision must be one of"):
        with_precision(net, "float16")
