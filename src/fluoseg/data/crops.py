"""The :class:`Crop` record every loader returns, and the instance-label TIFF
(``<crop>_instances.tif``) it reads."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fluoseg import io
from fluoseg.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def write_instances(path: Path, instances: np.ndarray, voxel_size=None) -> None:
    """Write (Z, Y, X, 2) uint16 instance ids as a zlib-compressed ImageJ hyperstack."""
    import tifffile  # imported on use, as fluoseg.io does: the CLI starts faster

    data = np.ascontiguousarray(np.transpose(instances.astype(np.uint16), (0, 3, 1, 2)))
    meta: dict[str, Any] = {"axes": "ZCYX"}
    kwargs: dict[str, Any] = {}
    if voxel_size is not None:
        meta.update(spacing=float(voxel_size[0]), unit="micron")
        kwargs["resolution"] = (1.0 / voxel_size[2], 1.0 / voxel_size[1])
    io.atomic_write(
        path,
        lambda tmp: tifffile.imwrite(
            tmp, data, imagej=True, metadata=meta, compression="zlib", **kwargs
        ),
        overwrite=True,
    )


def read_instances(path: str | os.PathLike) -> np.ndarray:
    """Read a ``<crop>_instances.tif`` as (Z, Y, X, 2) uint16 (nuclei, Golgi)."""
    import tifffile

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found (expected a <crop>_instances.tif)")
    data = tifffile.imread(p)
    if data.ndim != 4 or data.shape[1] != 2:
        raise InputError(
            f"{p}: shape {data.shape} (expected (Z, 2, Y, X) uint16 instance ids)"
        )
    return np.ascontiguousarray(np.transpose(data, (0, 2, 3, 1)))


@dataclass
class Crop:
    """One crop as loaded for training or evaluation.

    Attributes:
        name: crop name (``T1``..``T6``, ``I1``, ``I2`` or the real file's stem).
        split: ``train`` or ``test``.
        image: (Z, Y, X, 2) float32 raw intensities in [0, 1], ``[nuclei, golgi]``.
        mask: (Z, Y, X, n_classes) uint8 {0, 1}, ``[nuclei, golgi(, pair)]``.
        voxel_size: (z, y, x) in µm, or ``None``.
        image_path: the image file.
        mask_path: the mask file read.
        instances_path: ``<crop>_instances.tif`` (synthetic data only).
        pairs_path: ``<crop>_pairs.csv`` (synthetic data only).
    """

    name: str
    split: str
    image: np.ndarray
    mask: np.ndarray
    voxel_size: tuple[float, float, float] | None
    image_path: Path
    mask_path: Path
    instances_path: Path | None = None
    pairs_path: Path | None = None

    @property
    def volume(self) -> io.Volume:
        """The image as a :class:`fluoseg.io.Volume`."""
        return io.Volume(self.image, self.voxel_size, str(self.image_path))

    def instances(self) -> np.ndarray:
        """(Z, Y, X, 2) uint16 instance ids (synthetic data only)."""
        if self.instances_path is None:
            raise InputError(f"crop {self.name}: no instance labels (real data?)")
        return read_instances(self.instances_path)

    def pairs(self) -> pd.DataFrame:
        """The true pairs table (synthetic data only) as a DataFrame."""
        import pandas as pd  # imported on use: the CLI starts faster

        if self.pairs_path is None:
            raise InputError(f"crop {self.name}: no pairs table (real data?)")
        return pd.read_csv(self.pairs_path)
