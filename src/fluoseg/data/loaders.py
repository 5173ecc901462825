"""Read a dataset that is on disk: the crops of a split (:func:`load_split`, one at a
time with :func:`iter_split`), their masks alone (:func:`load_masks`) and the
CycleGAN's synthetic masks (:func:`load_synthetic_masks`).

Loaders never generate: a profile's missing dataset raises
:class:`~fluoseg.errors.InputError` naming the folder and ``fluoseg data --profile
<name>``, the command that writes it (or call
:func:`fluoseg.data.dataset.ensure_dataset` first, as every chapter's first cell
does). A folder without a manifest is read as real data (:mod:`fluoseg.data.real`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from fluoseg import io
from fluoseg.config import Profile, get_profile
from fluoseg.data import real
from fluoseg.data.crops import Crop
from fluoseg.data.dataset import find_dataset, read_manifest, synthetic_params
from fluoseg.data.synthetic_masks import synthetic_mask
from fluoseg.errors import InputError

MASK_KINDS: tuple[str, ...] = ("annotator", "truth")
"""The masks a generated dataset holds: ``annotator`` (imperfect, manual-like; what
the thesis evaluated against) and ``truth`` (perfect)."""


def dataset_folder(
    profile: Profile | str | None = None,
    data_dir: str | os.PathLike | None = None,
) -> Path:
    """The folder to read: ``data_dir`` if given, else the dataset of ``profile``.

    Raises:
        InputError: ``data_dir`` is not a folder, or the profile's dataset is missing
            or incomplete (the message names the command that makes it).
    """
    if data_dir is not None:
        folder = Path(data_dir)
        if not folder.is_dir():
            raise InputError(f"{folder}: no such folder (expected a dataset folder)")
        return folder
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    folder, ready = find_dataset(prof)
    if not ready:
        raise InputError(
            f"{folder}: the {prof.dataset!r} dataset is missing or incomplete "
            f"(expected a manifest.json and its crops; make it with `fluoseg data "
            f"--profile {prof.name}` or fluoseg.data.dataset.ensure_dataset)"
        )
    return folder


def load_split(
    split: str = "train",
    *,
    profile: Profile | str | None = None,
    data_dir: str | os.PathLike | None = None,
    truth: str = "annotator",
    n_classes: int = 2,
) -> list[Crop]:
    """Load the crops of one split, sorted by name.

    Args:
        split: ``train`` or ``test``.
        profile: chooses the dataset (which must exist) when ``data_dir`` is None.
        data_dir: a dataset folder to read instead.
        truth: ``annotator`` (the imperfect masks the thesis evaluated against) or
            ``truth`` (the perfect masks). Real data have one mask per crop.
        n_classes: 2 (nuclei, Golgi) or 3 (with the pair class).

    All the split's images are held at once (the standard dataset's eight crops are
    ~1.2 GB as float32): :func:`iter_split` reads one crop at a time.

    Raises:
        InputError: bad arguments, a missing dataset, or a folder with no crops for
            ``split``.
    """
    return list(
        iter_split(
            split, profile=profile, data_dir=data_dir, truth=truth, n_classes=n_classes
        )
    )


def iter_split(
    split: str = "train",
    *,
    profile: Profile | str | None = None,
    data_dir: str | os.PathLike | None = None,
    truth: str = "annotator",
    n_classes: int = 2,
    names: Sequence[str] | None = None,
) -> Iterator[Crop]:
    """The crops of :func:`load_split`, in the same order, each read only when the
    loop reaches it, so that a loop which keeps nothing of a crop holds one crop's
    image at a time instead of the whole split's. Real data (a folder without a
    manifest) are read as :func:`load_split` reads them. ``names``: only the crops of
    these names (still in name order; others are not read). The arguments are checked,
    and the folder resolved, at the call.

    Raises:
        InputError: bad arguments, a missing dataset, or a folder with no crops for
            ``split``.
    """
    if split not in ("train", "test"):
        raise InputError(f"split={split!r}: expected 'train' or 'test'")
    if truth not in MASK_KINDS:
        raise InputError(f"truth={truth!r}: expected 'annotator' or 'truth'")
    if n_classes not in (2, 3):
        raise InputError(f"n_classes={n_classes!r}: expected 2 or 3")
    folder = dataset_folder(profile, data_dir)
    manifest = read_manifest(folder)
    if manifest is None:
        crops = real.load_real_split(folder, split, n_classes=n_classes)
        return iter([c for c in crops if names is None or c.name in names])
    entries = sorted(
        (e for e in manifest["crops"] if e["split"] == split), key=lambda e: e["name"]
    )
    if not entries:
        raise InputError(f"{folder}: no {split} crops (expected {split}/<crop>_*.tif)")
    if names is not None:
        missing = set(names) - {e["name"] for e in entries}
        if missing:
            raise InputError(f"{folder}: no {split} crop named {sorted(missing)}")
        entries = [e for e in entries if e["name"] in names]
    return (_read_crop(folder, e, split, truth, n_classes) for e in entries)


def _read_crop(folder: Path, e: dict, split: str, truth: str, n_classes: int) -> Crop:
    """One crop of a generated dataset from its manifest entry ``e``."""
    files = {k: folder / v["path"] for k, v in e["files"].items()}
    vol = io.read_image(files["image"])
    mask = io.read_mask(files[truth], n_classes=n_classes)
    return Crop(
        name=e["name"],
        split=split,
        image=vol.data,
        mask=mask,
        voxel_size=vol.voxel_size,
        image_path=files["image"],
        mask_path=files[truth],
        instances_path=files.get("instances"),
        pairs_path=files.get("pairs"),
    )


def load_masks(
    split: str = "test",
    *,
    profile: Profile | str | None = None,
    data_dir: str | os.PathLike | None = None,
    truth: str = "annotator",
    n_classes: int = 2,
) -> dict[str, np.ndarray]:
    """The masks of one split by crop name, as :func:`load_split` gives them, without
    reading the images of a generated dataset (a test crop's image is ~130 MB as
    float32; real data go through :func:`load_split`)."""
    folder = dataset_folder(profile, data_dir)
    manifest = read_manifest(folder)
    if manifest is None or truth not in MASK_KINDS:
        crops = load_split(
            split, profile=profile, data_dir=data_dir, truth=truth, n_classes=n_classes
        )
        return {c.name: c.mask for c in crops}
    return {
        e["name"]: io.read_mask(folder / e["files"][truth]["path"], n_classes=n_classes)
        for e in sorted(manifest["crops"], key=lambda e: e["name"])
        if e["split"] == split
    }


def load_synthetic_masks(
    *,
    profile: Profile | str | None = None,
    data_dir: str | os.PathLike | None = None,
    n_classes: int = 2,
) -> list[np.ndarray]:
    """The dataset's unpaired synthetic masks, each (Z, Y, X, n_classes) uint8.

    When the folder has none (e.g. real data), they are drawn in memory with the
    training crops' sizes.
    """
    if n_classes not in (2, 3):
        raise InputError(f"n_classes={n_classes!r}: expected 2 or 3")
    folder = dataset_folder(profile, data_dir)
    manifest = read_manifest(folder)
    if manifest is not None and manifest.get("synthetic"):
        return [
            io.read_mask(folder / e["files"]["mask"]["path"], n_classes=n_classes)
            for e in sorted(manifest["synthetic"], key=lambda e: e["name"])
        ]
    shapes = [c.image.shape[:3] for c in load_split("train", data_dir=folder)]
    return [
        synthetic_mask(s, seed=501 + i, n_classes=n_classes, params=synthetic_params())
        for i, s in enumerate(shapes)
    ]
