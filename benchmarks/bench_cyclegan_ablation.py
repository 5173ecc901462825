"""The CycleGAN recipe's ablation: one training per variant, scored on the validation
crop (the training crop the trainer holds out), never on the test crops.

Each variant is the unsupervised 2-class CycleGAN at ``--profile`` (default cpu, seed
0) with some fields of its model configuration replaced
(``fluoseg.training.trainer.train(config_overrides=...)``). Its G_S segments the
validation crop;
Dice, precision and recall against that crop's annotator masks (read only to score)
are reported with the thesis's fixed 0.5 threshold and with the synthetic masks'
foreground share (``fluoseg.inference.threshold_by_share``).

    python benchmarks/bench_cyclegan_ablation.py --variant thesis_recipe cpu_recipe
    python benchmarks/bench_cyclegan_ablation.py --list

Writes ``benchmarks/results/cyclegan_ablation.json`` (one row per variant, appended).
The book's recorded copy, ``benchmarks/cyclegan-ablation-<date>.json``, also holds
rows of an earlier harness that changed the proposals or the stretch, which this
script cannot express (they are marked there).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, environment, write_results  # noqa: E402

THESIS = {
    "cycle_mask": "soft",
    "ema_decay": 0.0,
    "threshold_rule": "fixed",
    "stretch_clip": True,
}
CLIPPED = {"stretch_clip": True}  # the cpu recipe before G_S read the stretch unclipped
VARIANTS: dict[str, dict] = {
    "thesis_recipe": {"overrides": THESIS},
    "hard_icw03": {
        "overrides": {**THESIS, "cycle_mask": "hard", "image_cycle_weight": 0.3}
    },
    "soft_ema": {"overrides": {**THESIS, "ema_decay": 0.99}},
    "hard_ema": {"overrides": CLIPPED},
    "cpu_cw7": {"overrides": {**CLIPPED, "class_weights": [1.0, 7.0]}},
    "cpu_ep45": {"overrides": CLIPPED, "epochs": 45},
    "cpu_recipe": {"overrides": {}},
    "icw0": {"overrides": {"image_cycle_weight": 0.0}},
    "detached": {"overrides": {"cycle_mask": "detached"}},
    "disc4": {"overrides": {"disc_layers": 4}},
    "detached_fw70": {
        "overrides": {"cycle_mask": "detached", "foreground_weight": [10.0, 70.0]}
    },
    "share1": {"overrides": {"lambda_share": 1.0}},
    "hard_fw70": {"overrides": {"foreground_weight": [10.0, 70.0]}},
    "hard_fw30_70": {"overrides": {"foreground_weight": [30.0, 70.0]}},
    "detached_disc4": {"overrides": {"cycle_mask": "detached", "disc_layers": 4}},
    "disc_hard": {"overrides": {"disc_mask": "hard"}},
    "gen16": {"overrides": {"gen_filters": 16}},
    "advwarm8": {"overrides": {"adv_warmup": 8}},
    "ep100": {"overrides": {}, "epochs": 100, "patience": 101},
    "noid100": {"overrides": {"lambda_identity": 0.0}, "epochs": 100, "patience": 101},
    "dlr1e3": {"overrides": {"disc_learning_rate": 1e-3}},
    "gen16_dlr1e3": {"overrides": {"gen_filters": 16, "disc_learning_rate": 1e-3}},
    "detached_dlr1e3": {
        "overrides": {"cycle_mask": "detached", "disc_learning_rate": 1e-3}
    },
}


def run_variant(name: str, profile: str, seed: int, out: Path) -> dict:
    """Train variant ``name`` and score it on the validation crop."""
    import numpy as np

    from fluoseg.data.validation import validation_crop
    from fluoseg.evaluation.metrics import evaluate
    from fluoseg.inference import threshold_by_share
    from fluoseg.training.data import mask_share
    from fluoseg.training.trainer import train

    spec = VARIANTS[name]
    t0 = time.perf_counter()
    run = train("cyclegan", 2, profile=profile, unsupervised=True, seed=seed,
                epochs=spec.get("epochs"), patience=spec.get("patience"),
                out=out / name, progress=False,
                config_overrides=spec["overrides"], overwrite=True)  # fmt: skip
    seconds = time.perf_counter() - t0
    val = validation_crop(profile=profile, n_classes=2)
    probs = run.predict(val.image)
    share = run.mask_share or mask_share(
        Path(run.config["data_dir"]), run.profile, 2, True, "annotator"
    )
    row: dict = {"name": name, "changes": spec, "epochs": len(run.history)}
    row.update(train_seconds=round(seconds), validation_crop=val.name)
    masks = {
        "fixed_0.5": (probs > 0.5).astype(np.uint8),
        "mask_share": threshold_by_share(probs, share),
    }
    for label, mask in masks.items():
        ev = evaluate(mask, val.mask)
        row[label] = {
            k: [round(float(v), 3) for v in ev[k]]
            for k in ("dice", "precision", "recall")
        }
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", nargs="+", default=list(VARIANTS))
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "ablation_runs")
    ap.add_argument("--results", type=Path, default=RESULTS / "cyclegan_ablation.json",
                    help="JSON file the rows are appended to (one per concurrent run)")
    ap.add_argument("--list", action="store_true", help="list the variants and exit")
    args = ap.parse_args(argv)
    if args.list:
        for name, spec in VARIANTS.items():
            print(f"{name}: {json.dumps(spec)}")
        return 0
    unknown = sorted(set(args.variant) - set(VARIANTS))
    if unknown:
        print(f"error: unknown variant(s) {unknown}: expected {list(VARIANTS)}",
              file=sys.stderr)  # fmt: skip
        return 2
    path = args.results
    data = json.loads(path.read_text()) if path.is_file() else {"rows": []}
    data["environment"] = environment(args.profile)
    for name in args.variant:
        data["rows"].append(run_variant(name, args.profile, args.seed, args.out))
        write_results(path.stem, data, path.parent)
        print(json.dumps(data["rows"][-1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
