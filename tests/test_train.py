"""Tests of fluoseg.training.trainer and fluoseg.run: run folders, loading, prediction.

One tiny smoke-profile U-Net is trained once for the module (a few seconds) on a tiny
dataset written with fluoseg.io; the tests then inspect and reuse it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pytest

from fluoseg.errors import InputError
from fluoseg.evaluation.evaluate import evaluate_on_test
from fluoseg.hardware import SIMD_FLAGS
from fluoseg.run import Run, run_name
from fluoseg.training.plan import TrainConfig, train_config
from fluoseg.training.trainer import train

EPOCHS = 3


def write_tiny_dataset(root: Path, seed: int = 0) -> Path:
    """The smoke dataset in ``root`` (``fluoseg.data.dataset.generate_dataset``).

    Falls back to ``write_boxes_dataset`` while the data module is absent.
    """
    import importlib.util

    if importlib.util.find_spec("fluoseg.data.dataset") is not None:
        from fluoseg.data.dataset import generate_dataset

        generate_dataset(root, "smoke", workers=1)
        return root
    return write_boxes_dataset(root, seed)


def write_boxes_dataset(root: Path, seed: int = 0) -> Path:
    """A dataset folder with 3 train and 2 test crops of 20 x 40 x 44 voxels.

    Each crop holds bright box "nuclei" in the nuclei channel with a small box "Golgi"
    beside each; the annotator masks equal the true masks.
    """
    from fluoseg.io import write_image, write_mask

    rng = np.random.default_rng(seed)
    shape = (20, 40, 44)
    crops = {"train": ["c1", "c2", "c3"], "test": ["I1", "I2"]}
    for split, names in crops.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        for name in names:
            mask = np.zeros((*shape, 3), dtype=np.uint8)
            for _ in range(6):
                z, y, x = rng.integers((4, 5, 5), (16, 33, 37))
                mask[z - 3 : z + 3, y - 4 : y + 4, x - 4 : x + 4, 0] = 1
                mask[z - 1 : z + 1, y + 4 : y + 6, x : x + 2, 1] = 1
                mask[z - 3 : z + 3, y - 4 : y + 6, x - 4 : x + 4, 2] = 1
            noise = 0.15 * rng.random((*shape, 2))
            image = np.clip(0.6 * mask[..., :2] + noise, 0, 1).astype(np.float32)
            write_image(root / split / f"{name}_image.tif", image)
            for kind in ("truth", "annotator"):
                write_mask(root / split / f"{name}_{kind}.tif", mask)
    (root / "synthetic_masks").mkdir(exist_ok=True)
    write_mask(root / "synthetic_masks" / "s000.tif", mask)
    return root


def install_dataset_standin() -> None:
    """Use a minimal reader of the dataset layout while fluoseg.data.dataset is absent.

    (The data engineer's module replaces it as soon as it exists.)
    """
    import importlib.util
    import sys
    import types
    from dataclasses import dataclass

    if importlib.util.find_spec("fluoseg.data.dataset") is not None:
        return
    from fluoseg.io import read_image, read_mask

    @dataclass
    class Crop:
        name: str
        image: np.ndarray
        mask: np.ndarray

    def load_split(split, profile=None, data_dir=None, truth="annotator", n_classes=2):
        folder = Path(data_dir) / split
        names = sorted(f.name[: -len("_image.tif")] for f in folder.glob("*_image.tif"))
        return [
            Crop(
                n,
                read_image(folder / f"{n}_image.tif").data,
                read_mask(folder / f"{n}_{truth}.tif", n_classes),
            )
            for n in names
        ]

    def load_synthetic_masks(profile=None, data_dir=None, n_classes=2):
        folder = Path(data_dir) / "synthetic_masks"
        return [read_mask(f, n_classes) for f in sorted(folder.glob("*.tif"))]

    module = types.ModuleType("fluoseg.data.dataset")
    module.Crop = Crop
    module.load_split = load_split
    module.load_synthetic_masks = load_synthetic_masks
    module.ensure_dataset = lambda profile=None: None
    sys.modules["fluoseg.data.dataset"] = module


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    install_dataset_standin()
    return write_tiny_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("runs") / "unet"
    return train(
        "unet",
        2,
        profile="smoke",
        data_dir=data_dir,
        out=out,
        epochs=EPOCHS,
        progress=False,
    )


def test_run_directory_holds_everything(trained: Run) -> None:
    p = trained.path
    for name in (
        "config.json",
        "segmenter.keras",
        "history.csv",
        "timings.json",
        "hardware.json",
        "checkpoint/state.json",
    ):
        assert (p / name).is_file(), name
    cfg = json.loads((p / "config.json").read_text())
    assert cfg["model"] == "unet" and cfg["n_classes"] == 2 and cfg["seed"] == 0
    assert cfg["profile"]["name"] == "smoke"
    assert cfg["train_config"]["epochs"] == EPOCHS
    assert cfg["model_config"]["model"] == "unet"
    assert list(trained.history["epoch"]) == list(range(1, EPOCHS + 1))
    secs = trained.timings["epoch_seconds"]
    assert len(secs) == EPOCHS and all(s > 0 for s in secs)
    assert trained.timings["total_seconds"] == pytest.approx(sum(secs), abs=1e-2)
    hw = trained.hardware
    assert hw["cpu_cores_logical"] >= 1 and hw["ram_gb"] > 0
    assert hw["versions"]["tensorflow"] and hw["versions"]["keras"]
    # the features that decide TensorFlow's CPU speed, and whether oneDNN ran
    if platform.machine() == "x86_64" and os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1":
        assert hw["onednn"] is True  # import fluoseg asks for it (conftest imports it)
    if Path("/proc/cpuinfo").is_file():
        assert isinstance(hw["cpu_flags"], list)
        assert set(hw["cpu_flags"]) <= set(SIMD_FLAGS)
    state = json.loads((p / "checkpoint/state.json").read_text())
    assert state["finished"] and state["epoch"] == EPOCHS
    # only the last epoch's checkpoint files are kept
    kept = sorted(f.name for f in (p / "checkpoint").iterdir())
    assert kept == [
        "state.json",
        f"weights-{EPOCHS:04d}.weights.h5",
    ]
    assert trained.finished


def test_training_loss_decreases(trained: Run) -> None:
    loss = trained.history["loss"].to_numpy()
    assert loss[-1] < loss[0]


def test_finished_run_is_loaded_not_retrained(trained: Run, data_dir: Path) -> None:
    state = trained.path / "checkpoint" / "state.json"
    before = state.stat().st_mtime_ns
    t0 = time.perf_counter()
    again = train(
        "unet",
        2,
        profile="smoke",
        data_dir=data_dir,
        out=trained.path,
        epochs=EPOCHS,
        progress=False,
    )
    assert time.perf_counter() - t0 < 5.0
    assert state.stat().st_mtime_ns == before
    assert len(again.history) == EPOCHS
    assert again.history.equals(trained.history)


def test_config_mismatch_raises(trained: Run, data_dir: Path) -> None:
    with pytest.raises(InputError, match="seed"):
        train(
            "unet",
            2,
            profile="smoke",
            data_dir=data_dir,
            out=trained.path,
            epochs=EPOCHS,
            seed=1,
            progress=False,
        )
    with pytest.raises(InputError, match="another configuration"):
        train(
            "unet",
            2,
            profile="smoke",
            data_dir=data_dir,
            out=trained.path,
            epochs=EPOCHS + 1,
            progress=False,
        )


def test_predict_keeps_the_exact_shape(trained: Run) -> None:
    rng = np.random.default_rng(0)
    volume = rng.random((13, 21, 27, 2)).astype(np.float32)  # no multiple of 16
    loaded = Run.load(trained.path)
    probs = loaded.predict(volume)
    assert probs.shape == (13, 21, 27, 2) and probs.dtype == np.float32
    assert probs.min() >= 0.0 and probs.max() <= 1.0
    mask = loaded.segment(volume)
    assert mask.shape == (13, 21, 27, 2) and mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, (probs > 0.5).astype(np.uint8))


def test_predict_blending_modes_differ_only_in_the_weights(
    trained: Run,
) -> None:
    rng = np.random.default_rng(1)
    volume = rng.random((13, 21, 27, 2)).astype(np.float32)
    loaded = Run.load(trained.path)
    modes = {m: loaded.predict(volume, blending=m) for m in ("gaussian", "constant")}
    assert modes["gaussian"].shape == modes["constant"].shape == (13, 21, 27, 2)
    # only a weighted average of the same window outputs: same range, not identical
    assert not np.array_equal(modes["gaussian"], modes["constant"])
    np.testing.assert_allclose(
        modes["gaussian"].mean(), modes["constant"].mean(), atol=0.05
    )
    with pytest.raises(InputError, match="blending"):
        loaded.predict(volume, blending="median")


def test_evaluate_on_test_rows_and_timing(trained: Run) -> None:
    table = evaluate_on_test(trained)
    assert sorted(set(table["crop"])) == ["I1", "I2", "average"]
    assert list(table.index[:2]) == ["nuclei", "golgi"]
    assert ((table["dice"] >= 0) & (table["dice"] <= 1)).all()
    assert (table["seconds"] > 0).all()
    avg = table[table["crop"] == "average"]
    per = table[table["crop"] != "average"]
    for cls in ("nuclei", "golgi"):
        assert avg.loc[cls, "dice"] == pytest.approx(per.loc[cls, "dice"].mean())


def test_train_config_per_profile() -> None:
    smoke = train_config("unet", "smoke")
    assert isinstance(smoke, TrainConfig)
    assert (smoke.epochs, smoke.steps_per_epoch, smoke.sampling) == (2, 3, "random")
    assert train_config("unet", "smoke", epochs=7).epochs == 7
    cpu = train_config("unet", "cpu")
    assert cpu.steps_per_epoch * cpu.epochs >= 500 and cpu.balance_classes
    paper_unet = train_config("unet", "paper")
    assert paper_unet.sampling == "grid" and paper_unet.patience == 10
    assert paper_unet.steps_per_epoch is None and paper_unet.batch_size == 4
    assert train_config("vox2vox", "paper").patience == 20
    assert train_config("cyclegan", "paper").batch_size == 2
    # the thesis's CycleGAN stops on mode collapse only; cpu and smoke keep theirs
    assert train_config("cyclegan", "paper").patience is None
    assert train_config("cyclegan", "cpu").patience == 30
    assert train_config("cyclegan", "smoke").patience == 20
    with pytest.raises(InputError, match="epochs"):
        train_config("unet", "smoke", epochs=0)


def test_train_config_budget_entry_where_the_profile_has_one() -> None:
    from fluoseg.config import get_profile
    from fluoseg.experiments import THESIS_RECIPE, experiment, planned_config
    from fluoseg.run import run_kind

    kind = run_kind("cyclegan", 2, unsupervised=True)
    assert kind == "cyclegan-2class-unsup"
    cpu = get_profile("cpu")
    # cpu gives the unsupervised 2-class CycleGAN its own, longer loop (same steps
    # per epoch); the other profiles have no run-kind entry
    own = train_config("cyclegan", "cpu", budget=kind)
    assert (own.epochs, own.patience) == (70, 70)
    assert own == dataclasses.replace(
        train_config("cyclegan", "cpu"), epochs=70, patience=70
    )
    for prof in ("paper", "smoke", "gpu"):
        assert train_config("cyclegan", prof, budget=kind) == train_config(
            "cyclegan", prof
        )
    assert [
        planned_config(experiment(n), cpu)["train_config"]["epochs"]
        for n in ("cyclegan-2class-unsup-seed2", "cyclegan-2class")
    ] == [70, 30]
    assert planned_config(THESIS_RECIPE, cpu)["train_config"]["epochs"] == 30
    budgets = cpu.section("train")
    longer = dataclasses.replace(
        cpu, plan={**cpu.plan, "train": {**budgets, kind: {**budgets["cyclegan"],
                                                          "epochs": 100,
                                                          "patience": 100}}},
    )  # fmt: skip
    tc = train_config("cyclegan", longer, budget=kind)
    assert (tc.epochs, tc.patience) == (100, 100)
    assert tc.steps_per_epoch == train_config("cyclegan", cpu).steps_per_epoch
    assert train_config("cyclegan", longer, epochs=5, budget=kind).epochs == 5
    assert train_config("cyclegan", longer) == train_config("cyclegan", cpu)

    def epochs(exp) -> int:
        return planned_config(exp, longer)["train_config"]["epochs"]

    # the experiments of that kind (every seed) get it; other kinds and the thesis's
    # recipe (the same kind, but it names the model's loop) do not
    names = ("cyclegan-2class-unsup", "cyclegan-2class-unsup-seed1",
             "cyclegan-2class-unsup-seed2", "cyclegan-2class", "cyclegan-3class-unsup",
             "unet-2class")  # fmt: skip
    assert [epochs(experiment(n)) for n in names] == [100, 100, 100, 30, 30, 30]
    assert epochs(THESIS_RECIPE) == 30


def test_patience_none_never_stops_but_tracks_the_best_epoch() -> None:
    import dataclasses

    from fluoseg.training.callbacks import ResumableEarlyStopping as EarlyStop
    from fluoseg.training.plan import stopping_patience

    paper = train_config("cyclegan", "paper")
    assert stopping_patience(paper) > paper.epochs
    assert stopping_patience(train_config("cyclegan", "cpu")) == 30

    class Model:
        stop_training = False

    cases = (
        (dataclasses.replace(paper, epochs=12), False),
        (dataclasses.replace(paper, epochs=12, patience=3), True),
    )
    for tc, stops in cases:
        early = EarlyStop(
            monitor="val_selection_loss", mode="min", patience=stopping_patience(tc)
        )
        model = Model()
        early.set_model(model)
        early.on_train_begin()
        for epoch in range(tc.epochs):  # best at epoch 1, worse ever after
            early.on_epoch_end(epoch, {"val_selection_loss": 1.0 + epoch})
            if model.stop_training:
                break
        assert model.stop_training is stops
        assert early.best == 1.0


def test_run_name_and_bad_arguments(tmp_path: Path) -> None:
    assert run_name("unet", 2) == "unet-2class-seed0"
    assert run_name("cyclegan", 3, unsupervised=True, seed=4) == (
        "cyclegan-3class-unsup-seed4"
    )
    assert run_name("unet", 2, raw=True) == "unet-2class-raw-seed0"
    with pytest.raises(InputError, match="n_classes"):
        train("unet", 4, profile="smoke", out=tmp_path / "r")
    with pytest.raises(InputError, match="cyclegan"):
        train("unet", 2, unsupervised=True, profile="smoke", out=tmp_path / "r")
    with pytest.raises(InputError, match="truth"):
        train("unet", 2, truth="perfect", profile="smoke", out=tmp_path / "r")
    with pytest.raises(InputError, match="does not exist"):
        train(
            "unet", 2, profile="smoke", data_dir=tmp_path / "nope", out=tmp_path / "r"
        )
    with pytest.raises(InputError, match="no such run directory"):
        Run.load(tmp_path / "missing")


def test_config_digest_names_a_configuration_not_its_data_folder() -> None:
    from fluoseg.config import get_profile
    from fluoseg.models import model_config
    from fluoseg.run import config_digest
    from fluoseg.training.plan import train_config
    from fluoseg.training.trainer import run_config

    prof = get_profile("smoke")

    def cfg(epochs: int | None, data: str) -> dict:
        return run_config(
            "unet", 2, prof, False, False, 0, Path(data), "annotator",
            train_config("unet", prof, epochs), model_config("unet", prof, 2),
        )

    a = config_digest(cfg(None, "/data/a"))
    assert a == config_digest(cfg(None, "/elsewhere/b"))  # moving the data: same run
    assert a != config_digest(cfg(7, "/data/a"))  # other settings: another folder
    assert len(a) == 8 and int(a, 16) >= 0


def test_share_rule_run_config_and_segment(trained: Run, data_dir: Path) -> None:
    import dataclasses

    from fluoseg.config import get_profile
    from fluoseg.data.loaders import load_synthetic_masks
    from fluoseg.inference import threshold_by_share
    from fluoseg.models import model_config
    from fluoseg.training.plan import TrainConfig
    from fluoseg.training.trainer import run_config

    prof = get_profile("smoke")
    tc = TrainConfig(1, 1, 1, 1, False, 2)
    cfg = dataclasses.replace(
        model_config("cyclegan", prof, 2), threshold_rule="mask_share"
    )
    run_cfg = run_config(
        "cyclegan", 2, prof, False, True, 0, data_dir, "annotator", tc, cfg
    )
    masks = load_synthetic_masks(data_dir=data_dir, n_classes=2)
    expected = [
        sum(float(m[..., c].sum()) for m in masks) / sum(m[..., 0].size for m in masks)
        for c in range(2)
    ]
    np.testing.assert_allclose(run_cfg["mask_share"], expected, rtol=1e-5)
    plain = run_config(
        "cyclegan", 2, prof, False, True, 0, data_dir, "annotator", tc,
        model_config("cyclegan", prof, 2),
    )  # fmt: skip
    assert "mask_share" not in plain
    with pytest.raises(InputError, match="threshold_rule"):
        dataclasses.replace(cfg, threshold_rule="otsu")
    # a run whose configuration holds shares segments by share, others at 0.5
    image = np.random.default_rng(0).random((16, 24, 24, 2)).astype(np.float32)
    probs = trained.predict(image)
    assert trained.mask_share is None
    np.testing.assert_array_equal(trained.segment(image), probs > 0.5)
    shared = Run.load(trained.path)
    shared.config["mask_share"] = [0.05, 0.01]
    np.testing.assert_array_equal(
        shared.segment(image), threshold_by_share(probs, [0.05, 0.01])
    )
    np.testing.assert_array_equal(shared.segment(image, threshold=0.3), probs > 0.3)


def test_overrides_patience_and_callbacks_reach_the_run(
    data_dir: Path, tmp_path: Path
) -> None:
    import keras

    from fluoseg.training.trainer import with_overrides

    seen: list[int] = []

    class Count(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            # runs after the epoch's checkpoint: best.keras is already on disk
            assert (tmp_path / "r" / "best.keras").is_file()
            seen.append(epoch)

    run = train(
        "unet",
        2,
        profile="smoke",
        data_dir=data_dir,
        out=tmp_path / "r",
        epochs=2,
        progress=False,
        patience=5,
        callbacks=[Count()],
        config_overrides={"learning_rate": 1e-4},
    )
    assert seen == [0, 1]
    assert run.config["model_config"]["learning_rate"] == 1e-4
    assert run.config["train_config"]["patience"] == 5
    from fluoseg.models import model_config

    cfg = model_config("cyclegan", "smoke")
    assert with_overrides(cfg, None) is cfg
    assert with_overrides(cfg, {"class_weights": [1.0, 2.0]}).class_weights == (1, 2)
    with pytest.raises(InputError, match="unknown CycleGANConfig field"):
        with_overrides(cfg, {"lambda_cycles": 1.0})
    with pytest.raises(InputError, match="cycle_mask"):
        with_overrides(cfg, {"cycle_mask": "medium"})
    with pytest.raises(InputError, match="patience"):
        train("unet", 2, profile="smoke", data_dir=data_dir, out=tmp_path / "q",
              patience=0)
