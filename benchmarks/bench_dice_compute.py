"""Dice vs compute: the unsupervised 2-class CycleGAN after 5 to 300 epochs of training.

One training of the cpu recipe (``fluoseg.training.trainer.train``, unsupervised, 2
classes, one
seed) runs to the last budget. Budgets are **epochs** (32 steps each at cpu): 5, 15,
50, 150 and 300, i.e. about 1, 3, 10, 30 and 60 minutes at 12 s per epoch (a shared
2-core machine; the fastest recorded epoch, on an idle Xeon with AMX, took 6 s, which
halves every figure). At the end of each budget epoch the run's kept
G_S (``best.keras``: the epoch with the best annotation-free ``val_selection_loss`` so
far, which is what a training stopped there would keep) is copied aside. After
training, every copy is scored on the test crops against the annotator masks with the
run's own threshold rule (``fluoseg.evaluation.evaluate.score_test_crops``).

Minutes are computed, not assumed: each budget's steps times the run's fastest
measured seconds per step (its least disturbed epoch), so other load on a shared
machine stretches the wall time but not the curve; wall and CPU seconds are recorded.

Differences from separate trainings of each length: the cpu recipe keeps its learning
rates constant (``decay_from=1``), so a snapshot equals a shorter training up to the
stopping rules; early stopping is switched off (patience larger than the run) so that
the curve shows what more compute buys; mode-collapse stopping stays on and is recorded.

    python benchmarks/bench_dice_compute.py                  # 5 15 50 150 300 epochs
    python benchmarks/bench_dice_compute.py --epochs 5 15    # a quick curve
    python benchmarks/bench_dice_compute.py --profile smoke --epochs 1 3  # seconds

Writes ``benchmarks/results/dice_compute.json`` (or ``--json``); the CycleGAN
experiment page reads the recorded copy ``benchmarks/dice-compute-<date>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, environment, write_results  # noqa: E402

EPOCHS = (5, 15, 50, 150, 300)
# the settings that tell the book's CycleGAN recipes apart (value when not saved)
RECIPE_KEYS = {
    "cycle_mask": "soft",
    "ema_decay": 0.0,
    "threshold_rule": "fixed",
    "stretch_clip": True,
}


def _finite(value: object) -> float | None:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if v == v and abs(v) != float("inf") else None


def _write_records(run_dir: Path, records: list[dict]) -> None:
    tmp = run_dir / "snapshots.json.tmp"
    tmp.write_text(json.dumps(records, indent=1))
    os.replace(tmp, run_dir / "snapshots.json")


def snapshot_callback(run_dir: Path, budgets: Sequence[int]):  # noqa: ANN201
    """A Keras callback that copies ``best.keras`` at the end of each budget epoch and
    stops training after the last one; its ``records`` list what it took."""
    import keras

    class Snapshots(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.records: list[dict] = []
            self.taken: set[int] = set()
            self.steps = 0

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.cpu0, self.wall0 = time.process_time(), time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.steps += 1

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            cpu_s = time.process_time() - self.cpu0
            state = json.loads((run_dir / "checkpoint" / "state.json").read_text())
            for m in [b for b in budgets if b == epoch + 1]:
                dest = run_dir / "snapshots" / f"epoch{m}.keras"
                dest.parent.mkdir(exist_ok=True)
                shutil.copyfile(run_dir / "best.keras", dest)
                self.taken.add(m)
                self.records.append(
                    {
                        "budget_epochs": m,
                        "epoch": epoch + 1,
                        "steps": self.steps,
                        "kept_epoch": state.get("best_epoch"),
                        "cpu_seconds": round(cpu_s, 1),
                        "wall_seconds": round(time.perf_counter() - self.wall0, 1),
                        "val_selection_loss": _finite(
                            (logs or {}).get("val_selection_loss")
                        ),
                        "snapshot": str(dest),
                    }
                )
                _write_records(run_dir, self.records)
            if len(self.taken) == len(set(budgets)):
                self.model.stop_training = True

        def on_train_end(self, logs: dict | None = None) -> None:
            # stopped (mode collapse or the epoch cap) before the last budget: a
            # longer training would have stopped there too and kept the same G_S
            state = json.loads((run_dir / "checkpoint" / "state.json").read_text())
            for m in sorted(set(budgets) - self.taken):
                self.records.append(
                    {
                        "budget_epochs": m,
                        "stopped_before_budget": True,
                        "epoch": int(state.get("epoch", 0)),
                        "steps": self.steps,
                        "kept_epoch": state.get("best_epoch"),
                        "cpu_seconds": round(time.process_time() - self.cpu0, 1),
                        "wall_seconds": round(time.perf_counter() - self.wall0, 1),
                        "snapshot": str(run_dir / "best.keras"),
                    }
                )
            _write_records(run_dir, self.records)

    return Snapshots()


def score(run_dir: Path, records: list[dict], profile: str, data_dir: Path) -> None:
    """Add test-crop Dice, precision and recall (vs annotator) to each record."""
    import keras

    import fluoseg.models  # noqa: F401  (registers the custom layers)
    from fluoseg.evaluation.evaluate import score_test_crops
    from fluoseg.run import Run

    run = Run.load(run_dir)
    for rec in records:
        net = keras.saving.load_model(rec["snapshot"], compile=False)
        snap = dataclasses.replace(run, _segmenter=net, _variants={})
        avg, _, _, _, _ = score_test_crops(snap.segment, 2, profile, data_dir)
        for col in ("dice", "precision", "recall"):
            rec[col] = [round(float(v), 4) for v in avg[col]]
        keras.backend.clear_session()


def add_minutes(run_dir: Path, records: list[dict]) -> float:
    """Give each record ``minutes``: its steps at the run's fastest seconds per step
    (the least disturbed epoch, ``timings.json``); returns that speed."""
    timings = json.loads((run_dir / "timings.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    steps = int(config["train_config"]["steps_per_epoch"])
    per_step = min(float(s) for s in timings["epoch_seconds"][1:] or [1e9]) / steps
    for rec in records:
        rec["seconds_per_step"] = round(per_step, 4)
        rec["minutes"] = round(rec["epoch"] * steps * per_step / 60.0, 2)
    return per_step


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, nargs="+", default=list(EPOCHS))
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=None, help="dataset folder")
    ap.add_argument("--run-dir", type=Path, default=RESULTS / "dice_compute_run")
    ap.add_argument("--json", type=Path, default=RESULTS / "dice_compute.json")
    ap.add_argument(
        "--score-only",
        action="store_true",
        help="score the snapshots an interrupted run left in --run-dir",
    )
    args = ap.parse_args(argv)
    if any(m <= 0 for m in args.epochs):
        print("error: --epochs must be positive integers", file=sys.stderr)
        return 2

    from fluoseg.config import dataset_dir, get_profile
    from fluoseg.training.trainer import train

    prof = get_profile(args.profile)
    data_dir = args.data or dataset_dir(prof)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    env = environment(args.profile)
    cb = snapshot_callback(args.run_dir, args.epochs)
    t0 = time.perf_counter()
    if args.score_only:
        cb.records = json.loads((args.run_dir / "snapshots.json").read_text())
        cb.taken = {r["budget_epochs"] for r in cb.records}
    else:
        if (args.run_dir / "config.json").is_file():  # an earlier benchmark run
            shutil.rmtree(args.run_dir)
        train(
            "cyclegan",
            2,
            profile=prof,
            unsupervised=True,
            seed=args.seed,
            epochs=max(args.epochs),
            data_dir=data_dir,
            out=args.run_dir,
            progress=False,
            overwrite=True,
            patience=max(args.epochs) + 1,
            callbacks=[cb],
        )
    train_wall = time.perf_counter() - t0
    score(args.run_dir, cb.records, args.profile, data_dir)
    add_minutes(args.run_dir, cb.records)
    saved = json.loads((args.run_dir / "config.json").read_text())["model_config"]
    recipe = {k: saved.get(k, d) for k, d in RECIPE_KEYS.items()}
    result = {
        "benchmark": "dice_compute",
        "recipe": recipe,
        "blending": "gaussian (Run.segment's default)",
        "started": started,
        "model": "cyclegan-2class-unsup",
        "seed": args.seed,
        "profile": args.profile,
        "budget_basis": "epochs; minutes = steps x the run's fastest seconds per step",
        "training_wall_seconds": round(
            json.loads((args.run_dir / "timings.json").read_text())["total_seconds"]
            if args.score_only
            else train_wall,
            1,
        ),
        "reached": sorted(cb.taken),
        "unreached": sorted(set(args.epochs) - cb.taken),
        "snapshots": cb.records,
        "environment": env,
        "load_average_end": list(os.getloadavg()),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    path = write_results(args.json.stem, result, args.json.parent)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
