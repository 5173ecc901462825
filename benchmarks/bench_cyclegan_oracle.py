"""Is the checkpoint rule the limit? The kept G_S of every epoch, scored on the
validation crop.

One unsupervised CycleGAN training (2-class, or ``--classes 3``; ``--profile``, default
cpu; ``--overrides`` replaces fields of its model configuration, as
``bench_cyclegan_ablation.py`` does) saves the weights of the G_S it would keep (the
moving average when ``ema_decay`` > 0) at the end of every epoch. After training, each
epoch's G_S segments the validation crop (the training crop the trainer holds out; never
a test crop) with the run's own threshold rule and with the thesis's fixed 0.5, against
that crop's annotator masks (read only to score). Each row also holds the epoch's
annotation-free ``val_selection_loss``, so the table shows how far the epoch the rule
keeps is from the best epoch any rule could pick (the "oracle").

    python benchmarks/bench_cyclegan_oracle.py                # cpu recipe, seeds 0, 1
    python benchmarks/bench_cyclegan_oracle.py --epochs 100 --seed 0
    python benchmarks/bench_cyclegan_oracle.py --overrides '{"adv_warmup": 8}' --seed 2
    python benchmarks/bench_cyclegan_oracle.py --profile smoke --epochs 2   # seconds
    python benchmarks/bench_cyclegan_oracle.py --classes 3 --epochs 70 --seed 0

Writes ``benchmarks/results/cyclegan_oracle.json`` (or ``--json``); the recorded copy is
``benchmarks/cyclegan-oracle-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, environment, write_results  # noqa: E402


def epoch_saver(folder: Path):  # noqa: ANN201
    """A Keras callback that saves the kept G_S's weights after every epoch."""
    import keras

    class SaveKept(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            path = folder / f"e{epoch + 1:03d}.weights.h5"
            self.model.kept_g_s.save_weights(str(path))

    return SaveKept()


def kept_epoch(history) -> int:  # noqa: ANN001
    """The epoch the checkpoint rule keeps: the least ``val_selection_loss``."""
    return int(history.loc[history["val_selection_loss"].idxmin(), "epoch"])


def score_epochs(run, folder: Path, profile: str, every: int = 1) -> list[dict]:  # noqa: ANN001
    """Every ``every``-th saved epoch's Dice on the validation crop (the run's rule
    and fixed 0.5), one value per class of the run; the kept epoch and the last one
    are always scored."""
    import keras
    import numpy as np

    from fluoseg.data.validation import validation_crop
    from fluoseg.evaluation.metrics import evaluate

    val = validation_crop(profile=profile, n_classes=run.n_classes)
    g_s = next(lay for lay in run.segmenter.layers if isinstance(lay, keras.Model))
    selection = run.history["val_selection_loss"].tolist()
    kept = kept_epoch(run.history)
    paths = sorted(folder.glob("e*.weights.h5"))
    rows = []
    for path in paths:
        epoch = int(path.name[1:4])
        if epoch % every and epoch != kept and path != paths[-1]:
            continue
        g_s.load_weights(str(path))  # the segmenter wraps this G_S: same variables
        probs = run.predict(val.image)
        row = {"epoch": epoch, "val_selection_loss": round(selection[epoch - 1], 4)}
        for label, mask in (
            ("rule", run.binarize(probs)),
            ("fixed_0.5", (probs > 0.5).astype(np.uint8)),
        ):
            row[label] = [round(float(v), 3) for v in evaluate(mask, val.mask)["dice"]]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def one_run(args: argparse.Namespace, overrides: dict, seed: int) -> dict:
    """Train one seed, saving every epoch's kept G_S, and score every epoch."""
    from fluoseg.run import Run
    from fluoseg.training.trainer import train

    out = args.out / f"seed{seed}"
    folder = out / "epochs"
    if args.score_only:  # the weights an earlier (interrupted) call saved
        run = Run.load(out / "run")
        timings = json.loads((out / "run" / "timings.json").read_text())
        rows = score_epochs(run, folder, args.profile, args.every)
        return summarise(run, seed, timings["total_seconds"], rows)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("e*.weights.h5"):
        old.unlink()
    t0 = time.perf_counter()
    run = train("cyclegan", args.classes, profile=args.profile, unsupervised=True,
                seed=seed, epochs=args.epochs, out=out / "run", progress=False,
                patience=None if args.epochs is None else args.epochs + 1,
                config_overrides=overrides, overwrite=True,
                callbacks=[epoch_saver(folder)])  # fmt: skip
    seconds = time.perf_counter() - t0
    rows = score_epochs(run, folder, args.profile, args.every)
    return summarise(run, seed, seconds, rows)


def summarise(run, seed: int, seconds: float, rows: list[dict]) -> dict:  # noqa: ANN001
    """One seed's record: training time, kept epoch and the scored epochs."""
    return {
        "seed": seed,
        "train_seconds": round(seconds),
        "kept_epoch": kept_epoch(run.history),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seed", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--classes", type=int, choices=(2, 3), default=2,
                    help="2: nuclei and Golgi (the recorded copy); 3: + pairs")
    ap.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="default: the profile's, with its patience; with --epochs no early "
        "stopping (mode-collapse stopping stays on)",
    )
    ap.add_argument("--every", type=int, default=1,
                    help="score every N-th epoch (and the kept and the last one)")
    ap.add_argument("--score-only", action="store_true",
                    help="score the weights saved by an earlier call")  # fmt: skip
    ap.add_argument("--overrides", default="{}", help="model config fields, as JSON")
    ap.add_argument("--out", type=Path, default=RESULTS / "oracle_run")
    ap.add_argument("--json", type=Path, default=RESULTS / "cyclegan_oracle.json")
    args = ap.parse_args(argv)
    try:
        overrides = json.loads(args.overrides)
    except json.JSONDecodeError as err:
        print(f"error: --overrides is not JSON ({err}): expected e.g. "
              "'{\"adv_warmup\": 8}'", file=sys.stderr)  # fmt: skip
        return 2
    runs = [one_run(args, overrides, seed) for seed in args.seed]
    result = {
        "benchmark": "cyclegan_oracle",
        "what": f"unsupervised {args.classes}-class CycleGAN: the kept G_S of every "
        "epoch on the validation crop (Dice per class against its annotator masks)",
        "classes": args.classes,
        "date": dt.date.today().isoformat(),
        "profile": args.profile,
        "overrides": overrides,
        "epochs": args.epochs,
        "scored_every": args.every,
        "runs": runs,
        "environment": environment(args.profile),
    }
    print(write_results(args.json.stem, result, args.json.parent))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
