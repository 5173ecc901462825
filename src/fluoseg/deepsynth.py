"""DeepSynth-style segmentation without annotation: a U-Net trained on G_I's renders.

An unsupervised CycleGAN's G_I (mask -> image) renders an image for every synthetic
mask of the dataset (:func:`render_dataset`); the package's ordinary U-Net is trained
on these rendered image/mask pairs and segments the real test crops
(:func:`run_deepsynth`, :func:`ensure_deepsynth`). No annotation is read: the U-Net's
validation crop (``fluoseg.data.validation.split_crops``) is a rendered crop.

G_I works in the CycleGAN's image domain, the percentile stretch clipped to [0, 1]
(``fluoseg.models.cyclegan``), so the U-Net is trained with ``stretch_clip=True``
(:data:`UNET_OVERRIDES`) and sees the real test images the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fluoseg import io
from fluoseg.config import Profile, dataset_dir, get_profile, runs_root
from fluoseg.data.dataset import _file_entries, _write_manifest, read_manifest
from fluoseg.data.validation import split_crops
from fluoseg.diagnostics import cyclegan_from_run
from fluoseg.errors import InputError
from fluoseg.evaluation.evaluate import evaluate_run, is_current, train_args
from fluoseg.experiments import Experiment, ensure_result, experiments, run_experiment
from fluoseg.inference import predict_padded
from fluoseg.models import model_config
from fluoseg.models.registry import names, spec
from fluoseg.report.store import load_result, save_result
from fluoseg.run import Run
from fluoseg.training.isolate import run_in_subprocess, should_isolate
from fluoseg.training.plan import train_config
from fluoseg.training.trainer import train, with_overrides

GENERATOR = "fluoseg.deepsynth"
RESULT = "deepsynth-2class"
LABEL = "DeepSynth (U-Net on G_I's renders, unsupervised)"
UNET_OVERRIDES: tuple[tuple[str, Any], ...] = (("stretch_clip", True),)


def result_name(seed: int = 0) -> str:
    """The result's name: ``deepsynth-2class``, with ``-seed<N>`` for seeds above 0."""
    return RESULT if int(seed) == 0 else f"{RESULT}-seed{int(seed)}"


def _json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _cyclegan_run(run: Any) -> Any:
    """``run`` (a ``fluoseg.run.Run`` or its folder), checked to be a finished
    unsupervised CycleGAN."""
    run = run if isinstance(run, Run) else Run.load(run)
    model, unsup = run.config.get("model"), bool(run.config.get("unsupervised"))
    if model not in names() or not spec(model).unsupervised or not unsup:
        raise InputError(
            f"{run.path}: a {model} run (unsupervised={unsup}); expected an "
            "unsupervised CycleGAN run"
        )
    if not run.finished:
        raise InputError(f"{run.path}: training has not finished (no G_I to render)")
    return run


def _source(run: Any) -> dict[str, Any]:
    """What identifies the G_I that renders: run folder, its training time, weights."""
    state = _json(run.path / "checkpoint" / "state.json")
    return {"run": str(run.path), "total_seconds": run.timings.get("total_seconds"),
            "weights": state["weights"], "epoch": state["epoch"]}  # fmt: skip


def render_volume(run: Any, model: Any, mask: np.ndarray) -> np.ndarray:
    """G_I's image (Z, Y, X, 2) in [0, 1] for a mask (Z, Y, X, n) {0, 1}, sliding the
    run's inference window over the whole volume (Gaussian blending)."""

    def fn(batch: np.ndarray) -> np.ndarray:  # [-1, 1] in and out of G_I
        out = model.g_i.predict_on_batch(2.0 * batch - 1.0)
        return (np.asarray(out, np.float32) + 1.0) * 0.5

    prof = run.profile
    window = tuple(prof.inference_patch_shape)
    out = predict_padded(fn, np.asarray(mask, np.float32), window,
                         overlap=prof.inference_overlap,
                         batch_size=prof.inference_batch,
                         blending="gaussian")  # fmt: skip
    return np.clip(out, 0.0, 1.0)


def _check_out(out: Path, data: Path, overwrite: bool) -> None:
    if out.resolve() == data.resolve():
        raise InputError(f"{out}: the output folder is the source dataset")
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if (read_manifest(out) or {}).get("generator") != GENERATOR:
        raise InputError(f"{out}: exists and is not a rendered dataset (expected a "
                         "new folder or one written by render_dataset)")  # fmt: skip
    if not overwrite:
        raise InputError(f"{out}: already exists (pass overwrite=True to replace it)")


def render_dataset(
    cyclegan_run: Any,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write a dataset whose training crops are G_I's renders of ``data_dir``'s
    synthetic masks; return its folder.

    Per synthetic mask ``S<i>``: ``train/S<i>_image.tif`` (RGB uint8, R = Golgi,
    G = nuclei, as the real images) and ``S<i>_truth.tif`` / ``S<i>_annotator.tif``
    (copies of the synthetic mask: uint8 0/255, B = pair). The test crops of
    ``data_dir`` are listed in the manifest by absolute path (not copied, never
    trained on), so that ``fluoseg.evaluation.evaluate.evaluate_run`` scores a run
    trained on this folder on them. The folder is written beside ``out_dir``, then
    renamed.

    Raises:
        InputError: not a finished unsupervised CycleGAN run, ``data_dir`` without
            synthetic masks (or without a manifest), ``out_dir`` existing (without
            ``overwrite``, or not a rendered dataset).
    """
    run = _cyclegan_run(cyclegan_run)
    data, out = Path(data_dir), Path(out_dir)
    manifest = read_manifest(data) or {}
    synth = sorted(manifest.get("synthetic") or [], key=lambda e: e["name"])
    if not synth or any(not (data / e["files"]["mask"]["path"]).is_file()
                        for e in synth):  # fmt: skip
        raise InputError(
            f"{data}: no synthetic masks (expected a dataset made by fluoseg data, "
            "with synthetic_masks/<name>_mask.tif listed in manifest.json)"
        )
    _check_out(out, data, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    (tmp / "train").mkdir(parents=True)
    try:
        t0 = time.perf_counter()
        model, crops = cyclegan_from_run(run), []
        bar = tqdm(synth, desc="deepsynth render", unit="crop", disable=not progress)
        for e in bar:
            src = data / e["files"]["mask"]["path"]
            mask = io.read_mask(src, n_classes=run.n_classes)
            files = {k: tmp / "train" / f"{e['name']}_{k}.tif"
                     for k in ("image", "truth", "annotator")}  # fmt: skip
            vs = e.get("voxel_size")
            io.write_image(files["image"], render_volume(run, model, mask),
                           voxel_size=vs)  # fmt: skip
            for kind in ("truth", "annotator"):
                io.atomic_write(files[kind], lambda t, s=src: shutil.copyfile(s, t))
            crops.append({"name": e["name"], "split": "train", "seed": e.get("seed"),
                          "shape": list(mask.shape[:3]), "voxel_size": vs,
                          "files": _file_entries(tmp, files)})  # fmt: skip
        for e in manifest.get("crops", []):
            if e["split"] == "test":
                files = {k: dict(v, path=str((data / v["path"]).absolute()))
                         for k, v in e["files"].items()}  # fmt: skip
                crops.append(dict(e, files=files, linked=True))
        _write_manifest(tmp, {
            "format": 1, "dataset": out.name, "generator": GENERATOR,
            "profile_seed": manifest.get("profile_seed"),
            "source": f"G_I of {run.path} on the synthetic masks of {data}",
            "cyclegan": _source(run), "source_data": str(data.absolute()),
            "render_seconds": round(time.perf_counter() - t0, 3),
            "crops": crops, "synthetic": [],
        })  # fmt: skip
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _rendered_for(out: Path, run: Any) -> bool:
    """Whether ``out`` is a complete rendering by ``run``'s current G_I."""
    m = read_manifest(out) or {}
    return m.get("generator") == GENERATOR and m.get("cyclegan") == _source(run)


def _cyclegan_result(prof: Profile, seed: int, progress: bool) -> Any:
    """The saved result of the unsupervised 2-class CycleGAN of ``seed``, trained
    and scored first when missing or stale (``fluoseg.experiments.ensure_result``)."""
    name = "cyclegan-2class-unsup" + (f"-seed{seed}" if seed else "")
    if name in experiments():
        return ensure_result(name, prof, progress=progress, isolate=False)
    exp = Experiment(name, name, "cyclegan", 2, unsupervised=True, seed=seed)
    return run_experiment(exp, prof, progress=progress, isolate=False).result


def run_deepsynth(
    profile: Profile | str | None = None,
    seed: int = 0,
    *,
    cyclegan_run: Any = None,
    progress: bool = True,
) -> Any:
    """Train (or load) the unsupervised 2-class CycleGAN of ``seed``
    (``fluoseg.experiments.ensure_result``), render the dataset's synthetic masks with
    its G_I into ``deepsynth-<CycleGAN run>`` beside the profile's dataset (kept
    while that run is unchanged), train the U-Net on the renders with
    :data:`UNET_OVERRIDES` and score it on the real test crops as the tables' rows
    are; save the result :func:`result_name` and return the
    ``fluoseg.evaluation.evaluate.Evaluation`` (``timings`` add ``render_seconds`` and
    ``cyclegan_train_seconds``; ``extra`` the validation crop and score).
    ``cyclegan_run``: render with this finished run instead."""
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    seed = int(seed)
    cg_name = None
    if cyclegan_run is None:
        cg = _cyclegan_result(prof, seed, progress)
        cyclegan_run, cg_name = cg.extra["run"], cg.name
    cg_run = _cyclegan_run(cyclegan_run)
    cg_seconds = cg_run.timings.get("total_seconds")
    data = dataset_dir(prof).parent / f"deepsynth-{cg_run.path.name}"
    if not _rendered_for(data, cg_run):
        render_dataset(cg_run, dataset_dir(prof), data, overwrite=True,
                       progress=progress)  # fmt: skip
    manifest, overrides = _json(data / "manifest.json"), dict(UNET_OVERRIDES)
    unet = with_overrides(model_config("unet", prof, 2), overrides).to_dict()
    key = {"source": manifest["cyclegan"], "profile": prof.to_dict(), "seed": seed,
           "unet": unet, "train": train_config("unet", prof).to_dict(),
           "data": str(data.resolve())}  # fmt: skip
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    out = runs_root() / prof.name / f"deepsynth-unet-2class-seed{seed}-{digest}"
    run = train("unet", 2, profile=prof, seed=seed, data_dir=data, out=out,
                progress=progress, config_overrides=overrides,
                isolate=False)  # fmt: skip
    name = result_name(seed)
    ev = evaluate_run(run, name, prof, save=False)
    state = _json(run.path / "checkpoint" / "state.json")
    names = [e["name"] for e in manifest["crops"] if e["split"] == "train"]
    timings = dict(ev.result.timings, render_seconds=manifest["render_seconds"],
                   cyclegan_train_seconds=cg_seconds)  # fmt: skip
    args = dict(train_args(run), config_overrides=overrides)
    extra = dict(
        ev.result.extra, label=LABEL + (f" (seed {seed})" if seed else ""),
        seed=seed, train=args, cyclegan_result=cg_name,
        cyclegan_run=str(cg_run.path),
        rendered_data=str(data), validation_crop=names[split_crops(names)[1][0]],
        validation={k: state.get(k) for k in ("monitor", "best", "best_epoch")},
    )  # fmt: skip
    save_result(name, ev.average, timings, run.hardware, prof, extra=extra)
    return dataclasses.replace(ev, result=load_result(name, prof))


def _still_rendered(result: Any) -> bool:
    """Whether a result's rendered data still come from its CycleGAN run as it is."""
    try:
        run = _cyclegan_run(result.extra["cyclegan_run"])
    except (InputError, KeyError):
        return False
    return _rendered_for(Path(result.extra.get("rendered_data", "")), run)


def ensure_deepsynth(
    profile: Profile | str | None = None,
    seed: int = 0,
    *,
    progress: bool = True,
    isolate: bool | None = None,
) -> Any:
    """The saved ``fluoseg.report.store.Result`` of :func:`run_deepsynth`, computed if
    missing or stale (as ``fluoseg.experiments.ensure_result``; ``isolate``: in a child
    process, by default inside a Jupyter kernel)."""
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    name = result_name(seed)
    found = load_result(name, prof)
    if found is not None and is_current(found) and _still_rendered(found):
        return found
    if not should_isolate(isolate):
        return run_deepsynth(prof, seed, progress=progress).result
    kwargs = {"profile": prof, "seed": int(seed), "progress": progress}
    run_in_subprocess("fluoseg.deepsynth", "run_deepsynth", kwargs)
    saved = load_result(name, prof)
    if saved is None:  # pragma: no cover - run_deepsynth always saves
        raise InputError(f"the child process saved no result {name!r}")
    return saved


def recorded_table(record: dict, metric: str = "dice") -> Any:
    """Mean ± sd over the seeds of a recorded ``benchmarks/bench_deepsynth.py`` run:
    one row for the DeepSynth U-Net, one for the same seeds' CycleGAN (G_S), columns
    ``<class> mean``, ``<class> sd`` and ``seeds``, and the DeepSynth U-Net's mean
    validation Dice on its rendered crop. Rows without a recorded CycleGAN score are
    left out of the CycleGAN row."""
    rows = record.get("rows") or []
    if not rows:
        raise InputError("a DeepSynth record without rows: expected the JSON that "
                         "benchmarks/bench_deepsynth.py writes")  # fmt: skip
    cyclegan = [(r.get("cyclegan") or {}).get("test") for r in rows]
    who = {LABEL: [r["test"] for r in rows],
           "CycleGAN G_S, same seeds": [s for s in cyclegan if s]}  # fmt: skip
    out = {}
    for label, scores in who.items():
        if not scores:
            continue
        frame = pd.DataFrame([s[metric] for s in scores], dtype=float)
        row = {}
        order = [c for c in ("nuclei", "golgi", "pair") if c in frame.columns]
        for c in order + [c for c in frame.columns if c not in order]:
            row[f"{c} mean"], row[f"{c} sd"] = frame[c].mean(), frame[c].std(ddof=1)
        out[label] = {**row, "seeds": len(frame)}
    val = [(r.get("validation") or {}).get("val_dice_coefficient") for r in rows]
    val = [v for v in val if v is not None]
    if val and LABEL in out:  # the kept checkpoint's Dice on the rendered crop
        out[LABEL]["validation Dice (render)"] = float(np.mean(val))
    return pd.DataFrame.from_dict(out, orient="index")
