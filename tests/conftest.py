"""Small seeded fixtures shared by the test modules."""

from __future__ import annotations

import numpy as np
import pytest


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
