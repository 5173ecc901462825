"""Outputs pinned before the package was reorganised (issue 15).

The same seed must give the same smoke dataset and, trained at the smoke profile, the
same test metrics as the code had when ``tests/pinned/smoke_outputs.json`` was
recorded. A change of layout must change none of them; a deliberate change of the data
or of a recipe re-records the file with
``python tests/test_pinned_outputs.py --record``.

File checksums are compared exactly on a CPU with the recording's SIMD features (numpy's
transcendental functions take other code paths on AVX-512), and by content statistics to
a tolerance elsewhere; metrics are compared to 1e-3 on the same CPU features, to 0.05
elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

PINNED = Path(__file__).parent / "pinned" / "smoke_outputs.json"
#: (model, n_classes, unsupervised, epochs) trained and scored at the smoke profile
RUNS = (("unet", 2, False, 2), ("vox2vox", 2, False, 1), ("cyclegan", 2, True, 2))


def cpu_features() -> list[str]:
    """The SIMD features numpy dispatches on here (they decide its rounding)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as feats
    return sorted(k for k, v in feats.items() if v and k.startswith("AVX512"))


def dataset_outputs(folder: Path) -> dict[str, Any]:
    """Checksum and content statistics of every file the dataset generator wrote."""
    import tifffile

    out: dict[str, Any] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name == "manifest.json":
            continue
        rel = path.relative_to(folder).as_posix()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        entry: dict[str, Any] = {"sha256": digest}
        if path.suffix == ".tif":
            arr = tifffile.imread(path).astype(np.float64)
            entry.update(mean=float(arr.mean()), nonzero=int(np.count_nonzero(arr)))
        out[rel] = entry
    return out


def run_outputs(data: Path, runs: Path) -> dict[str, Any]:
    """Average test metrics per class of each pinned smoke training."""
    from fluoseg.evaluation.evaluate import evaluate_on_test
    from fluoseg.training.trainer import train

    out: dict[str, Any] = {}
    for model, n_classes, unsupervised, epochs in RUNS:
        run = train(
            model,
            n_classes,
            profile="smoke",
            unsupervised=unsupervised,
            epochs=epochs,
            data_dir=data,
            out=runs / f"{model}-{n_classes}-{unsupervised}",
            progress=False,
        )
        table = evaluate_on_test(run)
        avg = table[table["crop"] == "average"]
        out[f"{model}-{n_classes}class{'-unsup' if unsupervised else ''}"] = {
            cls: {m: float(avg.loc[cls, m]) for m in ("dice", "precision", "recall")}
            for cls in avg.index
        }
    return out


def record(root: Path) -> dict[str, Any]:
    """Generate, train and score everything that is pinned, under ``root``."""
    from fluoseg.data.dataset import generate_dataset

    data = root / "data"
    generate_dataset(data, "smoke", workers=1)
    return {
        "cpu_features": cpu_features(),
        "dataset": dataset_outputs(data),
        "runs": run_outputs(data, root / "runs"),
    }


@pytest.fixture(scope="module")
def now(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return record(tmp_path_factory.mktemp("pinned"))


@pytest.fixture(scope="module")
def pinned() -> dict[str, Any]:
    return json.loads(PINNED.read_text())


def test_the_smoke_dataset_is_unchanged(now: dict, pinned: dict) -> None:
    assert sorted(now["dataset"]) == sorted(pinned["dataset"])
    same_cpu = now["cpu_features"] == pinned["cpu_features"]
    for rel, want in pinned["dataset"].items():
        got = now["dataset"][rel]
        if same_cpu or "mean" not in want:
            assert got["sha256"] == want["sha256"], rel
        else:
            assert got["mean"] == pytest.approx(want["mean"], rel=1e-3), rel
            assert got["nonzero"] == pytest.approx(want["nonzero"], rel=1e-2), rel


def test_smoke_metrics_are_unchanged(now: dict, pinned: dict) -> None:
    tol = 1e-3 if now["cpu_features"] == pinned["cpu_features"] else 0.05
    assert sorted(now["runs"]) == sorted(pinned["runs"])
    for run, classes in pinned["runs"].items():
        for cls, metrics in classes.items():
            for metric, value in metrics.items():
                got = now["runs"][run][cls][metric]
                assert got == pytest.approx(value, abs=tol), (run, cls, metric)


if __name__ == "__main__" and "--record" in sys.argv:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = record(Path(tmp))
    PINNED.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {PINNED}")
