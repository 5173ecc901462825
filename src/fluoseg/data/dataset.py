"""The standard synthetic dataset on disk, and the loaders every chapter uses.

``fluoseg data`` (or :func:`ensure_dataset` from a notebook) writes, under
``fluoseg.config.dataset_dir(profile)``::

    manifest.json               seeds, parameters, sizes and sha256 of every file
    train/T1_image.tif ...      six training crops T1..T6
    test/I1_image.tif ...       two test crops I1, I2 (the thesis's test crops)
    synthetic_masks/S1_mask.tif the CycleGAN's unpaired masks (one per training crop)

Per crop: ``<crop>_image.tif`` (raw image, RGB uint8: R = Golgi, G = nuclei),
``<crop>_truth.tif`` (perfect masks), ``<crop>_annotator.tif`` (manual-like masks; the
book evaluates against these, as the thesis did), ``<crop>_instances.tif`` ((Z, Y, X, 2)
uint16 instance ids, nuclei then Golgi) and ``<crop>_pairs.csv`` (the true pairs).

The ``standard`` dataset has eight crops in the thesis's size range (257×505×55 to
627×818×61, x×y×z). The six training crops are sized so that cutting them into
non-overlapping 64³ patches, as the thesis did, gives its 433 patches. The ``smoke``
dataset has four small crops (24 slices of 64–72 × 64–72 voxels) and four synthetic
masks, for tests.

Generation is deterministic (same seed, same bytes) and idempotent: files whose
checksum matches the manifest are kept, anything else is regenerated.

If ``$FLUOSEG_DATA`` points at a folder of real crops (no ``manifest.json``), the
loaders read it with :mod:`fluoseg.data.real` instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fluoseg.config import Profile, dataset_dir, get_profile
from fluoseg.errors import InputError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
MASK_KINDS: tuple[str, ...] = ("annotator", "truth")


@dataclass(frozen=True)
class CropSpec:
    """One crop to generate: name, split, size (Z, Y, X) and seed."""

    name: str
    split: str
    shape: tuple[int, int, int]
    seed: int


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that defines a generated dataset."""

    name: str
    crops: tuple[CropSpec, ...]
    synthetic: tuple[CropSpec, ...]


# Training crops (x × y × z in the thesis's notation -> (Z, Y, X) here). Their 64^3
# grid patches, floor(Y/64) * floor(X/64) after z padding to 64, add up to the
# thesis's 433: 108 + 28 + 81 + 72 + 72 + 72.
_STANDARD_TRAIN: tuple[tuple[int, int, int], ...] = (
    (61, 818, 627),
    (55, 505, 257),
    (58, 590, 600),
    (57, 600, 530),
    (60, 620, 540),
    (56, 560, 600),
)
_STANDARD_TEST: tuple[tuple[int, int, int], ...] = ((58, 620, 450), (60, 700, 380))
_SMOKE_TRAIN: tuple[tuple[int, int, int], ...] = ((24, 64, 64), (24, 72, 64))
_SMOKE_TEST: tuple[tuple[int, int, int], ...] = ((24, 64, 72), (24, 64, 64))
_SMOKE_SYNTHETIC: tuple[tuple[int, int, int], ...] = ((24, 64, 64),) * 4


def dataset_spec(name: str, seed: int = 0) -> DatasetSpec:
    """The crops of the ``standard`` or ``smoke`` dataset for a base ``seed``."""
    if name == "standard":
        train, test, synthetic = _STANDARD_TRAIN, _STANDARD_TEST, _STANDARD_TRAIN
    elif name == "smoke":
        train, test, synthetic = _SMOKE_TRAIN, _SMOKE_TEST, _SMOKE_SYNTHETIC
    else:
        raise InputError(f"unknown dataset {name!r}: expected 'standard' or 'smoke'")
    base = 1000 * int(seed)
    crops = [
        CropSpec(f"T{i + 1}", "train", s, base + i + 1) for i, s in enumerate(train)
    ]
    crops += [
        CropSpec(f"I{i + 1}", "test", s, base + 101 + i) for i, s in enumerate(test)
    ]
    synth = [
        CropSpec(f"S{i + 1}", "synthetic_masks", s, base + 501 + i)
        for i, s in enumerate(synthetic)
    ]
    return DatasetSpec(name, tuple(crops), tuple(synth))


# Acquisition sessions: the training crops were imaged in one session, the test crops
# in another with a higher detector gain (brighter by 2-3x, same SNR), as happens
# when a lab adds new images to a study. A per-crop percentile stretch removes the
# difference; a model fed raw intensities meets brighter objects than it was trained
# on (the thesis's raw U-Net over-segments: precision 0.29, recall 0.99, Table 5.1).
SESSION_GAIN: dict[str, tuple[float, float]] = {
    "train": (0.15, 0.35),
    "test": (0.55, 0.85),
}


def simulation_params(shape: tuple[int, int, int], split: str = "train"):
    """The :class:`SimulationParams` of a crop of ``shape`` in ``split`` (its
    session's exposure gain, :data:`SESSION_GAIN`; defaults otherwise)."""
    from fluoseg.data.simulate import SimulationParams

    if split not in SESSION_GAIN:
        raise InputError(
            f"unknown split {split!r}: expected one of {', '.join(SESSION_GAIN)}"
        )
    return SimulationParams(
        shape=tuple(int(s) for s in shape), gain_range=SESSION_GAIN[split]
    )


def synthetic_params():
    """The :class:`SyntheticMaskParams` of the dataset's synthetic masks."""
    from fluoseg.data.synthetic_masks import SyntheticMaskParams

    return SyntheticMaskParams()


# ------------------------------------------------------------------------ writing


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic(path: Path, write: Callable[[str], None]) -> None:
    """Write ``path`` through ``fluoseg.io.atomic_write``, replacing a stale file."""
    from fluoseg.io import atomic_write

    atomic_write(path, write, overwrite=True)


def write_instances(path: Path, instances: np.ndarray, voxel_size=None) -> None:
    """Write (Z, Y, X, 2) uint16 instance ids as a zlib-compressed ImageJ hyperstack."""
    import tifffile

    data = np.ascontiguousarray(np.transpose(instances.astype(np.uint16), (0, 3, 1, 2)))
    meta: dict[str, Any] = {"axes": "ZCYX"}
    kwargs: dict[str, Any] = {}
    if voxel_size is not None:
        meta.update(spacing=float(voxel_size[0]), unit="micron")
        kwargs["resolution"] = (1.0 / voxel_size[2], 1.0 / voxel_size[1])
    _atomic(
        path,
        lambda tmp: tifffile.imwrite(
            tmp, data, imagej=True, metadata=meta, compression="zlib", **kwargs
        ),
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


def _crop_files(folder: Path, c: CropSpec) -> dict[str, Path]:
    d = folder / c.split
    return {
        "image": d / f"{c.name}_image.tif",
        "truth": d / f"{c.name}_truth.tif",
        "annotator": d / f"{c.name}_annotator.tif",
        "instances": d / f"{c.name}_instances.tif",
        "pairs": d / f"{c.name}_pairs.csv",
    }


def _synth_files(folder: Path, c: CropSpec) -> dict[str, Path]:
    return {"mask": folder / c.split / f"{c.name}_mask.tif"}


def _make_crop(folder: str, c: CropSpec) -> dict[str, Any]:
    """Simulate one crop and write its files (runs in a worker process)."""
    from fluoseg import io
    from fluoseg.data.simulate import simulate_crop

    params = simulation_params(c.shape, c.split)
    crop = simulate_crop(params, c.seed)
    files = _crop_files(Path(folder), c)
    files["image"].parent.mkdir(parents=True, exist_ok=True)
    vs = params.voxel_size
    io.write_image(files["image"], crop.image, voxel_size=vs, overwrite=True)
    io.write_mask(files["truth"], crop.truth, voxel_size=vs, overwrite=True)
    io.write_mask(files["annotator"], crop.annotator, voxel_size=vs, overwrite=True)
    write_instances(files["instances"], crop.instances, vs)
    _atomic(
        files["pairs"],
        lambda tmp: crop.pairs.to_csv(tmp, index=False, float_format="%.3f"),
    )
    return {
        "name": c.name,
        "split": c.split,
        "seed": c.seed,
        "shape": list(c.shape),
        "voxel_size": list(vs),
        "params": params.to_dict(),
        "info": crop.info,
        "files": _file_entries(Path(folder), files),
    }


def _make_synthetic(folder: str, c: CropSpec) -> dict[str, Any]:
    """Draw one synthetic mask and write it (runs in a worker process)."""
    from fluoseg import io
    from fluoseg.data.synthetic_masks import synthetic_mask

    params = synthetic_params()
    mask = synthetic_mask(c.shape, c.seed, n_classes=3, params=params)
    files = _synth_files(Path(folder), c)
    files["mask"].parent.mkdir(parents=True, exist_ok=True)
    vs = simulation_params(c.shape).voxel_size
    io.write_mask(files["mask"], mask, voxel_size=vs, overwrite=True)
    return {
        "name": c.name,
        "split": c.split,
        "seed": c.seed,
        "shape": list(c.shape),
        "voxel_size": list(vs),
        "params": params.to_dict(),
        "files": _file_entries(Path(folder), files),
    }


def _file_entries(folder: Path, files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {
        k: {
            "path": p.relative_to(folder).as_posix(),
            "bytes": p.stat().st_size,
            "sha256": sha256(p),
        }
        for k, p in files.items()
    }


def _expected(c: CropSpec, synthetic: bool) -> dict[str, Any]:
    params = synthetic_params() if synthetic else simulation_params(c.shape, c.split)
    return {"seed": c.seed, "shape": list(c.shape), "params": params.to_dict()}


def _entry_ok(
    folder: Path, entry: dict[str, Any] | None, want: dict[str, Any], verify: bool
) -> bool:
    """Does a manifest entry describe ``want`` and do its files match?"""
    if not entry or any(entry.get(k) != v for k, v in want.items()):
        return False
    for f in entry.get("files", {}).values():
        p = folder / f["path"]
        if not p.is_file() or p.stat().st_size != f["bytes"]:
            return False
        if verify and sha256(p) != f["sha256"]:
            return False
    return bool(entry.get("files"))


def read_manifest(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The dataset's manifest, or ``None`` when there is none (or it is unreadable)."""
    p = Path(folder) / MANIFEST
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    _atomic(folder / MANIFEST, lambda tmp: Path(tmp).write_text(text))


@dataclass
class GenerationReport:
    """What :func:`generate_dataset` did."""

    folder: Path
    generated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    seconds: float = 0.0


def generate_dataset(
    out: str | os.PathLike | None = None,
    profile: Profile | str | None = None,
    *,
    force: bool = False,
    verify: bool = True,
    workers: int | None = None,
    progress: bool = False,
) -> GenerationReport:
    """Generate (or complete) the dataset of ``profile`` in ``out``.

    Args:
        out: target folder (default: ``fluoseg.config.dataset_dir(profile)``).
        profile: a profile or its name; its ``dataset`` and ``seed`` choose the crops.
        force: regenerate every file.
        verify: check the sha256 of kept files (else only their sizes).
        workers: processes (default: up to 2, one per core).
        progress: show a progress bar.
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    folder = Path(out) if out is not None else dataset_dir(prof)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: not a folder (expected a dataset folder)")
    spec = dataset_spec(prof.dataset, prof.seed)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    old = read_manifest(folder) or {}
    old_items = {e["name"]: e for e in old.get("crops", []) + old.get("synthetic", [])}
    jobs, entries = [], {}
    report = GenerationReport(folder=folder)
    for c in spec.crops + spec.synthetic:
        synth = c.split == "synthetic_masks"
        entry = old_items.get(c.name)
        if not force and _entry_ok(folder, entry, _expected(c, synth), verify):
            entries[c.name] = entry
            report.kept.append(c.name)
        else:
            jobs.append(c)
    report.generated = [c.name for c in jobs]
    entries.update(_run_jobs(folder, jobs, workers, progress))
    manifest = {
        "format": FORMAT_VERSION,
        "dataset": spec.name,
        "profile_seed": prof.seed,
        "generator": "fluoseg.data.dataset",
        "source": "synthetic: fluoseg.data.simulate (calibrated, see "
        "fluoseg.data.calibration)",
        "crops": [entries[c.name] for c in spec.crops],
        "synthetic": [entries[c.name] for c in spec.synthetic],
    }
    _write_manifest(folder, manifest)
    report.seconds = time.perf_counter() - t0
    return report


def _run_jobs(
    folder: Path, jobs: list[CropSpec], workers: int | None, progress: bool
) -> dict[str, dict[str, Any]]:
    """Run the generation jobs, largest first, in up to ``workers`` processes."""
    from tqdm.auto import tqdm

    if not jobs:
        return {}
    jobs = sorted(jobs, key=lambda c: -int(np.prod(c.shape)))
    if workers is None:  # processes pay off only for big crops
        big = sum(int(np.prod(c.shape)) for c in jobs) > 4_000_000
        workers = min(2, os.cpu_count() or 1, len(jobs)) if big else 1
    n = workers
    bar = tqdm(total=len(jobs), desc="fluoseg data", unit="crop", disable=not progress)
    out: dict[str, dict[str, Any]] = {}

    def task(c: CropSpec):
        fn = _make_synthetic if c.split == "synthetic_masks" else _make_crop
        return fn, (str(folder), c)

    try:
        if n <= 1:
            for c in jobs:
                fn, args = task(c)
                out[c.name] = fn(*args)
                bar.update(1)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            ctx = mp.get_context("spawn")
            with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
                futures = {}
                for c in jobs:
                    fn, args = task(c)
                    futures[pool.submit(fn, *args)] = c.name
                for fut in as_completed(futures):
                    out[futures[fut]] = fut.result()
                    bar.update(1)
    finally:
        bar.close()
    return out


def ensure_dataset(profile: Profile | str | None = None, *, progress=True) -> Path:
    """The dataset folder of ``profile``, generated first if missing or incomplete.

    A folder of real data (``$FLUOSEG_DATA`` without ``manifest.json``, holding
    ``train/`` or crops in a layout of :mod:`fluoseg.data.real`) is returned as is. Kept
    files are checked by size only (``fluoseg data`` checks checksums).
    """
    from fluoseg.config import DATA_ENV, data_root
    from fluoseg.data import real

    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    if os.environ.get(DATA_ENV, "").strip() and real.layout(data_root()):
        return data_root()  # $FLUOSEG_DATA holds real crops directly
    folder = dataset_dir(prof)
    manifest = read_manifest(folder)
    if manifest is None and (folder / "train").is_dir():
        return folder  # real data, or a layout we do not own
    if manifest is not None and manifest.get("dataset") == prof.dataset:
        spec = dataset_spec(prof.dataset, prof.seed)
        items = {e["name"]: e for e in manifest["crops"] + manifest["synthetic"]}
        if all(
            _entry_ok(
                folder,
                items.get(c.name),
                _expected(c, c.split == "synthetic_masks"),
                False,
            )
            for c in spec.crops + spec.synthetic
        ):
            return folder
    generate_dataset(folder, prof, verify=False, progress=progress)
    return folder


# ------------------------------------------------------------------------ loading


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
    def volume(self):
        """The image as a :class:`fluoseg.io.Volume`."""
        from fluoseg.io import Volume

        return Volume(self.image, self.voxel_size, str(self.image_path))

    def instances(self) -> np.ndarray:
        """(Z, Y, X, 2) uint16 instance ids (synthetic data only)."""
        if self.instances_path is None:
            raise InputError(f"crop {self.name}: no instance labels (real data?)")
        return read_instances(self.instances_path)

    def pairs(self):
        """The true pairs table (synthetic data only) as a DataFrame."""
        import pandas as pd

        if self.pairs_path is None:
            raise InputError(f"crop {self.name}: no pairs table (real data?)")
        return pd.read_csv(self.pairs_path)


def _resolve(profile, data_dir) -> Path:
    if data_dir is not None:
        folder = Path(data_dir)
        if not folder.is_dir():
            raise InputError(f"{folder}: no such folder (expected a dataset folder)")
        return folder
    return ensure_dataset(profile)


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
        profile: chooses the dataset (generated if missing) when ``data_dir`` is None.
        data_dir: a dataset folder to read instead.
        truth: ``annotator`` (the imperfect masks the thesis evaluated against) or
            ``truth`` (the perfect masks). Real data have one mask per crop.
        n_classes: 2 (nuclei, Golgi) or 3 (with the pair class).

    All the split's images are held at once (the standard dataset's eight crops are
    ~1.2 GB as float32): :func:`iter_split` reads one crop at a time.

    Raises:
        InputError: bad arguments, or a folder with no crops for ``split``.
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
        InputError: bad arguments, or a folder with no crops for ``split``.
    """
    if split not in ("train", "test"):
        raise InputError(f"split={split!r}: expected 'train' or 'test'")
    if truth not in MASK_KINDS:
        raise InputError(f"truth={truth!r}: expected 'annotator' or 'truth'")
    if n_classes not in (2, 3):
        raise InputError(f"n_classes={n_classes!r}: expected 2 or 3")
    folder = _resolve(profile, data_dir)
    manifest = read_manifest(folder)
    if manifest is None:
        from fluoseg.data import real

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
    from fluoseg import io

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
    from fluoseg import io

    folder = _resolve(profile, data_dir)
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

    When the folder has none (e.g. real data), they are drawn on the fly with the
    training crops' sizes.
    """
    from fluoseg import io

    if n_classes not in (2, 3):
        raise InputError(f"n_classes={n_classes!r}: expected 2 or 3")
    folder = _resolve(profile, data_dir)
    manifest = read_manifest(folder)
    if manifest is not None and manifest.get("synthetic"):
        return [
            io.read_mask(folder / e["files"]["mask"]["path"], n_classes=n_classes)
            for e in sorted(manifest["synthetic"], key=lambda e: e["name"])
        ]
    from fluoseg.data.synthetic_masks import synthetic_mask

    shapes = [c.image.shape[:3] for c in load_split("train", data_dir=folder)]
    return [
        synthetic_mask(s, seed=501 + i, n_classes=n_classes, params=synthetic_params())
        for i, s in enumerate(shapes)
    ]
