"""Loaders for real data: point ``$FLUOSEG_DATA`` at it and the book runs on it.

Two layouts are recognised in a folder (or in its ``train/`` and ``test/`` subfolders):

**TIFF crops** (as the thesis had them): RGB TIFF volumes, R = Golgi, G = nuclei, and
masks with R = Golgi, G = nuclei, B = pair (read by :mod:`fluoseg.io`, which also takes
(Z, C, Y, X) hyperstacks). Pairing rule: every file whose name contains ``image``
(any case, ``.tif``/``.tiff``) is an image; its mask is the file whose name is the
same with that ``image`` replaced by ``mask``, ``annotator``, ``truth`` or ``label``
(tried in that order, same case as written). E.g. ``crop3_image.tif`` ↔
``crop3_mask.tif``, ``Image_I1.tiff`` ↔ ``Mask_I1.tiff``.

**3DNGMic-style subvolumes** (`HemaxiN/3DNGMic <https://github.com/HemaxiN/3DNGMic>`_):
a subfolder whose name contains ``image`` and one whose name contains ``mask``,
holding ``.npy`` files of the same names; each array is (X, Y, Z, 2) uint8 with
channel 0 = Golgi and channel 1 = nuclei (masks 0/255). They are returned as
(Z, X, Y, 2) in code order ``[nuclei, golgi]`` (rows = the release's first axis).
These masks have no pair channel.

Splits: with ``train/`` and ``test/`` subfolders each is one split. Without them, the
crops (sorted by name) are split 80/20: the first 80 % are ``train``, the rest ``test``
(at least one of each when there are two crops or more).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from fluoseg import io
from fluoseg.data.crops import Crop
from fluoseg.errors import InputError
from fluoseg.transforms import scale_to_unit

MASK_WORDS: tuple[str, ...] = ("mask", "annotator", "truth", "label")
TIFF_SUFFIXES: tuple[str, ...] = (".tif", ".tiff")
TRAIN_FRACTION = 0.8


def _mask_names(name: str) -> list[str]:
    """Candidate mask file names for an image file name (first 'image' replaced)."""
    m = re.search("image", name, flags=re.IGNORECASE)
    if m is None:
        return []
    word = m.group(0)
    out = []
    for w in MASK_WORDS:
        if word.isupper():
            w = w.upper()
        elif word[0].isupper():
            w = w.capitalize()
        out.append(name[: m.start()] + w + name[m.end() :])
    return out


def find_tiff_pairs(folder: str | os.PathLike) -> list[tuple[Path, Path]]:
    """(image, mask) TIFF pairs in ``folder`` by the pairing rule, sorted by name."""
    d = Path(folder)
    pairs = []
    for p in sorted(d.iterdir()) if d.is_dir() else []:
        if p.suffix.lower() not in TIFF_SUFFIXES or not p.is_file():
            continue
        for cand in _mask_names(p.name):
            q = d / cand
            if q != p and q.is_file():
                pairs.append((p, q))
                break
    return pairs


def _subfolder(d: Path, word: str) -> Path | None:
    subs = sorted(s for s in d.iterdir() if s.is_dir() and word in s.name.lower())
    return subs[0] if subs else None


def find_npy_pairs(folder: str | os.PathLike) -> list[tuple[Path, Path]]:
    """(image, mask) ``.npy`` pairs of a 3DNGMic-style folder, sorted by name."""
    d = Path(folder)
    if not d.is_dir():
        return []
    images, masks = _subfolder(d, "image"), _subfolder(d, "mask")
    if images is None or masks is None:
        return []
    return [
        (p, masks / p.name)
        for p in sorted(images.glob("*.npy"))
        if (masks / p.name).is_file()
    ]


def _npy_to_code(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.ndim != 4 or arr.shape[-1] != 2:
        raise InputError(
            f"{path}: array of shape {arr.shape} (expected a 3DNGMic subvolume "
            "(X, Y, Z, 2) with channels [golgi, nuclei])"
        )
    return np.ascontiguousarray(np.transpose(arr[..., ::-1], (2, 0, 1, 3)))


def read_npy_image(path: str | os.PathLike) -> np.ndarray:
    """A 3DNGMic image subvolume as (Z, Y, X, 2) float32 in [0, 1], [nuclei, golgi]."""
    p = Path(path)
    arr = np.load(p, allow_pickle=False)
    return scale_to_unit(_npy_to_code(arr, p))


def read_npy_mask(path: str | os.PathLike, n_classes: int = 2) -> np.ndarray:
    """A 3DNGMic mask subvolume as (Z, Y, X, 2) uint8 {0, 1}, [nuclei, golgi]."""
    p = Path(path)
    if n_classes != 2:
        raise InputError(
            f"{p}: 3DNGMic masks have no pair channel (expected n_classes=2, got "
            f"{n_classes})"
        )
    arr = np.load(p, allow_pickle=False)
    return (_npy_to_code(arr, p) != 0).astype(np.uint8)


def layout(folder: str | os.PathLike) -> str | None:
    """``'tiff'``, ``'npy'`` or ``None``: the real-data layout found in ``folder``."""
    if find_tiff_pairs(folder):
        return "tiff"
    if find_npy_pairs(folder):
        return "npy"
    return None


def _split_pairs(folder: Path, split: str) -> list[tuple[Path, Path]]:
    sub = folder / split
    if (folder / "train").is_dir() or (folder / "test").is_dir():
        return find_tiff_pairs(sub) or find_npy_pairs(sub)
    pairs = find_tiff_pairs(folder) or find_npy_pairs(folder)
    n_train = max(1, int(round(TRAIN_FRACTION * len(pairs))))
    if len(pairs) >= 2:
        n_train = min(n_train, len(pairs) - 1)  # keep at least one test crop
    return pairs[:n_train] if split == "train" else pairs[n_train:]


def load_real_split(
    folder: str | os.PathLike, split: str = "train", n_classes: int = 2
) -> list[Crop]:
    """Load one split of a real-data folder as :class:`fluoseg.data.crops.Crop`.

    Raises:
        InputError: no crops of a recognised layout for ``split``.
    """
    if split not in ("train", "test"):
        raise InputError(f"split={split!r}: expected 'train' or 'test'")
    d = Path(folder)
    pairs = _split_pairs(d, split)
    if not pairs:
        raise InputError(
            f"{d}: no {split} crops found (expected a manifest.json, TIFF pairs like "
            "<name>_image.tif + <name>_mask.tif, or 3DNGMic folders images/ + masks/ "
            "of .npy files; optionally in train/ and test/)"
        )
    crops = []
    for img, msk in pairs:
        if img.suffix == ".npy":
            image, mask, vs = read_npy_image(img), read_npy_mask(msk, n_classes), None
        else:
            vol = io.read_image(img)
            image, vs = vol.data, vol.voxel_size
            mask = io.read_mask(msk, n_classes=n_classes)
        io.check_same_shape(image, mask, (str(img), str(msk)))
        name = (
            img.stem
            if img.suffix == ".npy"
            else re.sub("[_-]?image[_-]?", "", img.stem, count=1, flags=re.IGNORECASE)
            or img.stem
        )
        crops.append(
            Crop(
                name=name,
                split=split,
                image=image,
                mask=mask,
                voxel_size=vs,
                image_path=img,
                mask_path=msk,
            )
        )
    return crops
