"""The DeepSynth-style row: a U-Net trained on an unsupervised CycleGAN's renders.

Per seed, ``fluoseg.deepsynth.run_deepsynth`` gets the unsupervised 2-class CycleGAN
of that seed (its saved, current result and run are reused, as
``fluoseg.experiments.ensure_result`` does; else it is trained), renders the dataset's
synthetic masks with its G_I, trains the profile's U-Net on the renders (clipped
stretch) and scores it on the test crops with the tables' window rule. No annotation
is read: the U-Net's checkpoint is chosen on a rendered crop.

    python benchmarks/bench_deepsynth.py --profile cpu --seed 0 1 2 --runs DIR

Records per seed: CycleGAN training seconds (and whether the run was reused),
rendering seconds (and whether the renders were reused), U-Net training seconds,
epochs and steps, the validation (rendered) score of the kept checkpoint, and the
test Dice / precision / recall of nuclei and Golgi (against the annotator masks, as
the tables) with the CycleGAN's own row beside it. Writes
``benchmarks/results/deepsynth.json`` (rows appended; ``--out`` to choose).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, environment, write_results  # noqa: E402

METRICS = ("dice", "precision", "recall", "dice_gaussian")


def _scores(result) -> dict:  # noqa: ANN001 - a fluoseg.report.store.Result
    """Per metric, per class (nuclei, Golgi), rounded to 4 decimals."""
    from fluoseg.thesis import class_index

    df = class_index(result.metrics)
    return {m: {c: round(float(df.loc[c, m]), 4) for c in df.index}
            for m in METRICS if m in df.columns}  # fmt: skip


def _mtime(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.is_file() else None


def run_seed(profile: str, seed: int, cyclegan_run: str | None, progress: bool) -> dict:
    """Run the pipeline for ``seed`` and describe what it measured."""
    from fluoseg.config import dataset_dir, runs_root
    from fluoseg.deepsynth import run_deepsynth
    from fluoseg.report.store import load_result
    from fluoseg.run import Run

    runs = runs_root() / profile
    before = {p.name for p in runs.iterdir()} if runs.is_dir() else set()
    root = dataset_dir(profile).parent
    renders = {p: _mtime(p / "manifest.json") for p in root.glob("deepsynth-*")}
    cg_name = "cyclegan-2class-unsup" + (f"-seed{seed}" if seed else "")
    t0 = time.perf_counter()
    ev = run_deepsynth(profile, seed, cyclegan_run=cyclegan_run, progress=progress)
    wall = time.perf_counter() - t0
    r = ev.result
    unet, cg = Run.load(r.extra["run"]), Run.load(r.extra["cyclegan_run"])
    data = Path(r.extra["rendered_data"])
    manifest = json.loads((data / "manifest.json").read_text())
    history = unet.history
    best = r.extra["validation"]["best_epoch"]
    val_dice = None
    if best is not None and "val_dice_coefficient" in history.columns:
        val_dice = float(history.loc[history["epoch"] == best,
                                     "val_dice_coefficient"].iloc[0])  # fmt: skip
    cg_result = load_result(cg_name, profile) if cyclegan_run is None else None
    return {
        "seed": seed,
        "result": r.name,
        "wall_seconds": round(wall, 1),
        "cyclegan": {
            "run": str(cg.path),
            "reused": cg.path.name in before,
            "train_seconds": cg.timings.get("total_seconds"),
            "epochs": len(cg.history),
            "test": _scores(cg_result) if cg_result is not None else None,
        },
        "render": {
            "data": str(data),
            "seconds": manifest["render_seconds"],
            "reused": renders.get(data) == _mtime(data / "manifest.json"),
            "crops": sum(e["split"] == "train" for e in manifest["crops"]),
            "voxels": sum(int(e["shape"][0]) * int(e["shape"][1]) * int(e["shape"][2])
                          for e in manifest["crops"] if e["split"] == "train"),
        },  # fmt: skip
        "unet": {
            "run": str(unet.path),
            "reused": unet.path.name in before,
            "train_seconds": unet.timings.get("total_seconds"),
            "epochs": len(history),
            "steps": len(history) * int(unet.timings.get("steps_per_epoch") or 0),
            "stretch_clip": unet.stretch_clip,
        },
        "validation": {
            "crop": r.extra["validation_crop"],
            "monitor": r.extra["validation"]["monitor"],
            "best": r.extra["validation"]["best"],
            "best_epoch": best,
            "val_dice_coefficient": val_dice,
        },
        "test": _scores(r),
        "test_seconds_per_crop": r.timings.get("test_seconds_per_crop"),
        "test_crops": r.extra["test_crops"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seed", type=int, nargs="+", default=[0])
    ap.add_argument("--runs", type=Path, default=None,
                    help="runs root holding <profile>/ (default $FLUOSEG_RUNS or "
                         "<repo>/runs); the CycleGAN's cached result is read there "
                         "and the new runs and results are written there")  # fmt: skip
    ap.add_argument("--data", type=Path, default=None,
                    help="data root (default $FLUOSEG_DATA or <repo>/data); the "
                         "renders go to <data>/deepsynth-<CycleGAN run>")  # fmt: skip
    ap.add_argument("--cyclegan-run", default=None,
                    help="render with this finished unsupervised CycleGAN run "
                         "(one seed) instead of the seed's saved result")  # fmt: skip
    ap.add_argument("--out", type=Path, default=RESULTS / "deepsynth.json")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    if args.cyclegan_run and len(args.seed) != 1:
        print("error: --cyclegan-run needs exactly one --seed", file=sys.stderr)
        return 2
    if args.runs is not None:
        os.environ["FLUOSEG_RUNS"] = str(args.runs.expanduser().resolve())
    if args.data is not None:
        os.environ["FLUOSEG_DATA"] = str(args.data.expanduser().resolve())
    path = args.out
    data = json.loads(path.read_text()) if path.is_file() else {"rows": []}
    data["environment"] = environment(args.profile)
    for seed in args.seed:
        row = run_seed(args.profile, seed, args.cyclegan_run, args.progress)
        data["rows"].append(dict(row, profile=args.profile,
                                 date=time.strftime("%Y-%m-%d %H:%M:%S")))  # fmt: skip
        write_results(path.stem, data, path.parent)
        print(json.dumps(data["rows"][-1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
