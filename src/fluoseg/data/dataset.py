"""The synthetic dataset on disk: its crops (spec), their generation and the manifest.

``fluoseg data`` (or :func:`ensure_dataset` from a notebook's first cell) writes, under
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

The crop sizes of each dataset and the sessions' detector gains are data:
``fluoseg/resources/datasets.json``. Reading a dataset is :mod:`fluoseg.data.loaders`'
job; if ``$FLUOSEG_DATA`` points at a folder of real crops (no ``manifest.json``),
they read it with :mod:`fluoseg.data.real` instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fluoseg import io
from fluoseg.config import DATA_ENV, Profile, data_root, dataset_dir, get_profile
from fluoseg.data import real
from fluoseg.data.crops import write_instances
from fluoseg.data.simulate import SimulationParams, simulate_crop
from fluoseg.data.synthetic_masks import SyntheticMaskParams, synthetic_mask
from fluoseg.errors import InputError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


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


def _dataset_table() -> dict[str, Any]:
    """``fluoseg/resources/datasets.json``: crop sizes and session gains."""
    path = resources.files("fluoseg") / "resources" / "datasets.json"
    return json.loads(path.read_text(encoding="utf-8"))


_TABLE = _dataset_table()
DATASET_SHAPES: dict[str, dict[str, tuple[tuple[int, int, int], ...]]] = {
    name: {
        part: tuple(tuple(int(s) for s in shape) for shape in shapes)
        for part, shapes in parts.items()
    }
    for name, parts in _TABLE["datasets"].items()
}
"""Crop sizes (Z, Y, X) of each dataset by part (``train``, ``test``,
``synthetic``); the six standard training crops cut into non-overlapping 64³
patches give the thesis's 433."""


def dataset_spec(name: str, seed: int = 0) -> DatasetSpec:
    """The crops of the ``standard`` or ``smoke`` dataset for a base ``seed``."""
    if name not in DATASET_SHAPES:
        raise InputError(
            f"unknown dataset {name!r}: expected "
            + " or ".join(repr(n) for n in DATASET_SHAPES)
        )
    parts = DATASET_SHAPES[name]
    train, test, synthetic = parts["train"], parts["test"], parts["synthetic"]
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


SESSION_GAIN: dict[str, tuple[float, float]] = {
    split: (float(lo), float(hi)) for split, (lo, hi) in _TABLE["session_gain"].items()
}
"""Detector gain range of each acquisition session (split): the training crops were
imaged in one session, the test crops in another with a higher gain (brighter by 2-3x,
same SNR), as happens when a lab adds new images to a study. A per-crop percentile
stretch removes the difference; a model fed raw intensities meets brighter objects
than it was trained on (the thesis's raw U-Net over-segments: precision 0.29, recall
0.99, Table 5.1)."""


def simulation_params(
    shape: tuple[int, int, int], split: str = "train"
) -> SimulationParams:
    """The :class:`SimulationParams` of a crop of ``shape`` in ``split`` (its
    session's exposure gain, :data:`SESSION_GAIN`; defaults otherwise)."""
    if split not in SESSION_GAIN:
        raise InputError(
            f"unknown split {split!r}: expected one of {', '.join(SESSION_GAIN)}"
        )
    return SimulationParams(
        shape=tuple(int(s) for s in shape), gain_range=SESSION_GAIN[split]
    )


def synthetic_params() -> SyntheticMaskParams:
    """The :class:`SyntheticMaskParams` of the dataset's synthetic masks."""
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
    io.atomic_write(path, write, overwrite=True)


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


def find_dataset(profile: Profile | str | None = None) -> tuple[Path, bool]:
    """The dataset folder of ``profile`` and whether it is ready to read (generates
    nothing).

    Ready: real data (``$FLUOSEG_DATA`` holding crops in a layout of
    :mod:`fluoseg.data.real`, or a folder with ``train/`` and no ``manifest.json``),
    or a generated dataset whose manifest lists every crop of the profile's dataset
    with files of the listed sizes (``fluoseg data`` checks checksums).
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    if os.environ.get(DATA_ENV, "").strip() and real.layout(data_root()):
        return data_root(), True  # $FLUOSEG_DATA holds real crops directly
    folder = dataset_dir(prof)
    manifest = read_manifest(folder)
    if manifest is None:
        return folder, (folder / "train").is_dir()  # real data, or not ours
    if manifest.get("dataset") != prof.dataset:
        return folder, False
    spec = dataset_spec(prof.dataset, prof.seed)
    items = {e["name"]: e for e in manifest["crops"] + manifest["synthetic"]}
    ready = all(
        _entry_ok(
            folder,
            items.get(c.name),
            _expected(c, c.split == "synthetic_masks"),
            False,
        )
        for c in spec.crops + spec.synthetic
    )
    return folder, ready


def ensure_dataset(profile: Profile | str | None = None, *, progress=True) -> Path:
    """The dataset folder of ``profile``, generated first if missing or incomplete.

    Called once where a program starts (a notebook's first cell, ``fluoseg train``):
    the loaders of :mod:`fluoseg.data.loaders` never generate. A folder of real data
    is returned as is (:func:`find_dataset`).
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    folder, ready = find_dataset(prof)
    if not ready:
        generate_dataset(folder, prof, verify=False, progress=progress)
    return folder
