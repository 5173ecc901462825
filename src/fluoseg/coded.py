"""Training images held as small integer codes of their float32 values.

A pre-processed training crop is float32 (8 bytes per voxel for two channels), yet it
takes few distinct values: the synthetic crops are 8-bit, and the percentile stretch
maps each raw value to one float32. :func:`encode` keeps, per channel, the table of the
distinct float32 values (as bit patterns, so ``-0.0`` and ``0.0`` stay apart) and one
uint8 (at most 256 values) or uint16 (at most 65,536) code per voxel; slicing a
:class:`CodedImage` decodes exactly the float32 values of the image. The six training
crops of the ``cpu`` profile then take a quarter of their float32 size in a training
process (issue 16: a chapter within Binder's 2 GiB).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fluoseg.transforms import pad_to_at_least

MAX_CODES = 2**16
"""Most distinct values per channel that :func:`encode` codes (uint16 codes)."""


class CodedImage:
    """A float32 (Z, Y, X, C) image as per-channel codes into tables of its values.

    ``image[z0:z1, y0:y1, x0:x1]`` (any basic index) returns the float32 array the
    same index gives on the decoded image; ``numpy.asarray(image)`` decodes it all.
    """

    dtype = np.dtype(np.float32)

    def __init__(self, codes: np.ndarray, tables: Sequence[np.ndarray]) -> None:
        if codes.ndim != 4 or codes.shape[-1] != len(tables):
            raise ValueError(f"codes {codes.shape} need one table per channel")
        self.codes = codes
        self.tables = [np.asarray(t, dtype=np.float32) for t in tables]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.codes.shape)

    @property
    def ndim(self) -> int:
        return 4

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + sum(t.nbytes for t in self.tables))

    def __getitem__(self, key: Any) -> np.ndarray:
        part = self.codes[key]
        if part.ndim == 0 or part.shape[-1] != len(self.tables):
            raise IndexError("index the spatial axes only: every channel is decoded")
        out = np.empty(part.shape, dtype=np.float32)
        for c, table in enumerate(self.tables):
            out[..., c] = table[part[..., c]]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[...]
        return out if dtype is None else out.astype(dtype, copy=False)

    def padded(self, patch_shape: Sequence[int]) -> CodedImage:
        """This image reflect-padded as :func:`fluoseg.transforms.pad_to_at_least` pads
        the decoded one (padding copies values, so it may copy codes instead)."""
        codes = pad_to_at_least(self.codes, patch_shape)
        return self if codes is self.codes else CodedImage(codes, self.tables)


def _distinct_bits(bits: np.ndarray, limit: int) -> np.ndarray | None:
    """Sorted distinct values of the uint32 array ``bits`` (Z, ...), one slice at a
    time; ``None`` once there are more than ``limit``."""
    import pandas as pd

    seen = np.zeros(0, dtype=np.uint32)
    for plane in bits:
        seen = np.union1d(seen, pd.unique(np.ravel(plane)))
        if seen.size > limit:
            return None
    return seen.astype(np.uint32)


def encode(image: np.ndarray, limit: int = MAX_CODES) -> CodedImage | np.ndarray:
    """``image`` (Z, Y, X, C) float32 as a :class:`CodedImage`, or the image itself
    when a channel has more than ``limit`` distinct values (nothing to gain)."""
    image = np.ascontiguousarray(image, dtype=np.float32)
    if image.ndim != 4 or image.size == 0:
        return image
    bits = image.view(np.uint32)
    tables = []
    for c in range(image.shape[-1]):
        found = _distinct_bits(bits[..., c], limit)
        if found is None:
            return image
        tables.append(found)
    dtype = np.uint8 if max(t.size for t in tables) <= 256 else np.uint16
    codes = np.empty(image.shape, dtype=dtype)
    for c, table in enumerate(tables):
        for z in range(image.shape[0]):  # one slice at a time: no full-size index
            codes[z, ..., c] = np.searchsorted(table, bits[z, ..., c])
    return CodedImage(codes, [t.view(np.float32) for t in tables])
