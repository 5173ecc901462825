"""Small seeded fixtures shared by the test modules."""

from __future__ import annotations

import numpy as np
import pytest

# before any test module imports TensorFlow (some import keras first): the package
# sets TensorFlow's environment (oneDNN on, GPU memory growth) on import
import fluoseg  # noqa: F401


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh generator seeded with 0."""
    return np.random.default_rng(0)


@pytest.fixture
def tiny_volume() -> np.ndarray:
    """A (6, 10, 12, 2) float32 image in [0, 1], channels [nuclei, golgi]."""
    gen = np.random.default_rng(1)
    vol = gen.random((6, 10, 12, 2)).astype(np.float32) * 0.2
    vol[1:5, 2:7, 3:9, 0] += 0.7  # a bright nucleus
    vol[2:4, 6:8, 8:10, 1] += 0.7  # a small Golgi next to it
    return np.clip(vol, 0.0, 1.0).astype(np.float32)


@pytest.fixture
def tiny_mask() -> np.ndarray:
    """A (6, 10, 12, 3) uint8 {0, 1} mask, channels [nuclei, golgi, pair]."""
    mask = np.zeros((6, 10, 12, 3), dtype=np.uint8)
    mask[1:5, 2:7, 3:9, 0] = 1
    mask[2:4, 6:8, 8:10, 1] = 1
    mask[1:5, 2:8, 3:10, 2] = mask[1:5, 2:8, 3:10, 0] | mask[1:5, 2:8, 3:10, 1]
    return mask


@pytest.fixture(scope="session")
def smoke_unet_run(tmp_path_factory: pytest.TempPathFactory):
    """One finished smoke-profile 2-class U-Net run (1 epoch), trained once per session
    on the smoke dataset generated in a temporary folder."""
    from fluoseg.data.dataset import generate_dataset
    from fluoseg.training.trainer import train

    root = tmp_path_factory.mktemp("smoke_run")
    data = root / "data"
    generate_dataset(data, "smoke", workers=1)
    return train(
        model="unet",
        n_classes=2,
        profile="smoke",
        epochs=1,
        data_dir=data,
        out=root / "run",
        progress=False,
    )
