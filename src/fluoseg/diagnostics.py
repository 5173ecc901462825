"""Per-epoch diagnostics of a CycleGAN run, from its history (no test data).

The trainer logs, on the validation batches (real validation images beside masks of
the unpaired domain, so no annotation is read), the foreground share of G_S's masks
and of the unpaired masks, the overlap of the mask cycle ``G_S(G_I(s))`` with ``s``
and each discriminator's accuracy. :func:`cyclegan_epochs` turns them into one
table per epoch that shows what goes wrong when a CycleGAN fails: G_S drawing too
much or too little (share ratio far from 1), failing to read G_I's renderings (low
cycle Dice), or a discriminator that wins outright (accuracy near 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fluoseg import CLASS_NAMES
from fluoseg.data.origins import Positions, cut_window
from fluoseg.data.validation import fixed_mask_patches, fixed_origins
from fluoseg.errors import InputError
from fluoseg.models import build_model
from fluoseg.models.registry import names, spec
from fluoseg.run import CHECKPOINT_DIR, STATE_FILE, Run, read_json
from fluoseg.training.isolate import call_isolated
from fluoseg.transforms import pad_to_at_least as pad


def cyclegan_epochs(history: pd.DataFrame, n_classes: int) -> pd.DataFrame:
    """One row per epoch: per class ``share G_S`` and ``share masks`` (validation
    foreground shares), ``share ratio`` and ``cycle Dice``; then ``D_S accuracy``
    and ``D_I accuracy`` when logged. Columns are ``(quantity, class)`` pairs."""
    needed = [f"val_{t}_{k}" for t in ("fg_pred", "fg_ref") for k in range(n_classes)]
    missing = [c for c in needed if c not in history.columns]
    if missing:
        raise InputError(
            f"history has no {', '.join(missing)}: expected a CycleGAN run's history"
        )
    cols: dict[tuple[str, str], pd.Series] = {}
    for k, name in enumerate(CLASS_NAMES[:n_classes]):
        pred = history[f"val_fg_pred_{k}"].astype(float)
        ref = history[f"val_fg_ref_{k}"].astype(float)
        inter = history.get(f"val_cycle_inter_{k}")
        total = history.get(f"val_cycle_total_{k}")
        cols[("share G_S", name)] = pred
        cols[("share masks", name)] = ref
        cols[("share ratio", name)] = pred / ref.where(ref > 0, np.nan)
        if inter is not None and total is not None:
            t = total.astype(float)
            cols[("cycle Dice", name)] = 2 * inter.astype(float) / t.where(t > 0)
    for d in ("s", "i"):
        if f"val_d_{d}_acc" in history.columns:
            cols[(f"D_{d.upper()} accuracy", "")] = history[f"val_d_{d}_acc"]
    frame = pd.DataFrame(cols)
    frame.index.name = "epoch"
    return frame


def domain_shares(
    images: list[np.ndarray] | None,
    proposals: list[Any],
    annotated: list[np.ndarray],
    synthetic: list[np.ndarray],
    patch_shape: tuple[int, int, int],
    n: int,
    foreground_fraction: float,
    seed: int = 0,
) -> pd.DataFrame:
    """Per-patch foreground shares of the two domains an unsupervised CycleGAN sees.

    Image patches are drawn as the trainer draws them (``foreground_fraction`` of them
    centred on ``proposals``, the bright blobs, as masks or as their
    :class:`~fluoseg.data.origins.Positions`); their share is read from
    ``annotated`` masks at the same place, **for diagnosis only** (training never reads
    them). Mask patches are drawn from the ``synthetic`` masks the same way. Returns
    one row per patch and class: ``domain``, ``class``, ``share``. The image values are
    not read (only their shapes are checked): ``images=None`` skips that check.
    """

    def shape3(x: Any) -> tuple[int, ...]:  # as padded to the patch (as Positions)
        if isinstance(x, Positions):
            return tuple(x.shape[:3])
        return tuple(int(v) for v in np.maximum(np.shape(x)[:3], patch_shape))

    if images is None:
        images = proposals
    if not (len(images) == len(proposals) == len(annotated)) or not images:
        raise InputError(
            "images, proposals and annotated masks must be non-empty lists of equal "
            f"length, got {len(images)}, {len(proposals)}, {len(annotated)}"
        )
    n_classes = int(synthetic[0].shape[-1])
    # the annotation cut where fixed_patches cuts the image patches (the origins read
    # the proposals only), with no float copy of the images or the annotation
    for im, p, a in zip(images, proposals, annotated, strict=True):
        if not shape3(im) == shape3(p) == shape3(a):
            raise InputError(
                f"image {shape3(im)}, proposals {shape3(p)} and mask {shape3(a)} "
                "differ in shape (padded to the patch)"
            )
    origins = fixed_origins(proposals, patch_shape, n, foreground_fraction, seed)
    shape = tuple(int(p) for p in patch_shape)
    cut = [
        cut_window(pad(np.asarray(annotated[c])[..., :n_classes], shape), o, shape)
        for c, o in origins
    ]
    ann = np.stack(cut).astype(np.float32)
    syn = fixed_mask_patches(synthetic, patch_shape, n, foreground_fraction, seed)
    rows = []
    for domain, arr in (("image patches (annotated)", ann), ("synthetic masks", syn)):
        shares = arr.reshape(arr.shape[0], -1, n_classes).mean(axis=1)
        for k, name in enumerate(CLASS_NAMES[:n_classes]):
            rows += [
                {"domain": domain, "class": name, "share": float(v)}
                for v in shares[:, k]
            ]
    return pd.DataFrame(rows)


def cyclegan_from_run(run: Run) -> object:
    """The whole CycleGAN (G_S, G_I, D_S, D_I) of a run at its last checkpoint, to
    look at what G_I renders (``segmenter.keras`` holds only G_S).

    Raises:
        InputError: not a CycleGAN run (an unpaired model, with a G_I), or a run
            without a checkpoint.
    """
    config = getattr(run, "config", {})
    name = config.get("model")
    if name not in names() or not spec(name).unpaired:
        raise InputError(f"{getattr(run, 'path', run)} is not a CycleGAN run")
    ckpt = run.path / CHECKPOINT_DIR
    state_file = ckpt / STATE_FILE
    if not state_file.is_file():
        raise InputError(f"{run.path}: no checkpoint to load G_I from")
    state = read_json(state_file)
    model_config = spec(name).config.from_dict(config["model_config"])
    model = build_model(name, model_config)
    model.load_weights(str(ckpt / state["weights"]))
    return model


def render_images(model: object, masks: np.ndarray) -> np.ndarray:
    """G_I's images (B, Z, Y, X, 2) in [0, 1] for masks (B, Z, Y, X, n) in {0, 1}."""
    m = np.asarray(masks, dtype=np.float32)
    if m.ndim != 5:
        raise InputError(f"masks of shape {m.shape}: expected (B, Z, Y, X, classes)")
    out = model.g_i(2.0 * m - 1.0, training=False)  # type: ignore[attr-defined]
    return ((np.asarray(out) + 1.0) * 0.5).astype(np.float32)


def rendered_images(
    runs: dict[str, Any], masks: np.ndarray, isolate: bool | None = None
) -> dict[str, np.ndarray]:
    """Each CycleGAN run's G_I images of ``masks``
    (``render_images(cyclegan_from_run(run), masks)``), by the keys of ``runs``.

    ``isolate`` (default as in ``fluoseg.training.trainer.train``: inside a
    Jupyter kernel): TensorFlow and the networks live in a child process, which
    sends back the images (``fluoseg.training.isolate.call_isolated``).
    """
    folders = {k: str(r.path) for k, r in runs.items()}
    return call_isolated(
        _rendered_images,
        {"runs": runs, "masks": masks},
        isolate,
        {"runs": folders, "masks": masks},
    )


def _rendered_images(runs: dict[str, Any], masks: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for key, run in runs.items():
        run = Run.load(run) if isinstance(run, str) else run
        out[key] = render_images(cyclegan_from_run(run), masks)
    return out


def symptom_masks(
    runs: dict[str, Any], image: np.ndarray, isolate: bool | None = None
) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    """Each run's mask of ``image`` (``run.binarize(run.predict(image))``) and the
    :func:`hidden_share` of its probabilities, by the keys of ``runs``.

    ``isolate`` (default as in ``fluoseg.training.trainer.train``: inside a
    Jupyter kernel): the networks and the probability volumes live in a child
    process, which sends back the masks (uint8) and the shares, so that the kernel
    holds neither (``fluoseg.training.isolate.call_isolated``).
    """
    folders = {k: str(r.path) for k, r in runs.items()}
    return call_isolated(
        _symptom_masks,
        {"runs": runs, "image": image},
        isolate,
        {"runs": folders, "image": image},
    )


def _symptom_masks(
    runs: dict[str, Any], image: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    masks, hidden = {}, {}
    for key, run in runs.items():
        run = Run.load(run) if isinstance(run, str) else run
        probs = run.predict(image)
        masks[key] = run.binarize(probs)
        hidden[key] = hidden_share(probs)
        del probs
    return masks, hidden


_BLOCK_ROWS = 1 << 20


def hidden_share(probs: np.ndarray, threshold: float = 0.5) -> list[float]:
    """Per class, the share of G_S's total output that lies below ``threshold``.

    A G_S that draws faint, sub-threshold copies of the background (to let G_I rebuild
    it, which the image cycle rewards) has a large hidden share; it is invisible in the
    thresholded mask. ``probs`` is (..., classes) in [0, 1].
    """
    p = np.asarray(probs)
    if p.ndim < 2 or p.size == 0:
        raise InputError(f"probabilities of shape {p.shape}: expected (..., classes)")
    flat = p.reshape(-1, p.shape[-1])
    # float64 sums over row blocks, each continuing the running sum as its first row:
    # numpy sums the rows of an (N, classes) array in order, so this adds in the same
    # order as one sum over a float64 copy of the whole volume, without that copy
    total = np.zeros(flat.shape[1])
    below = np.zeros(flat.shape[1])
    for start in range(0, len(flat), _BLOCK_ROWS):
        block = flat[start : start + _BLOCK_ROWS].astype(np.float64)
        total = np.concatenate([total[None], block]).sum(axis=0)
        low = np.where(block < threshold, block, 0.0)
        below = np.concatenate([below[None], low]).sum(axis=0)
    return [float(b / t) if t > 0 else 0.0 for b, t in zip(below, total, strict=True)]


def empty_epochs(runs: dict[str, Any]) -> pd.DataFrame:
    """Per run folder (``history.csv`` inside) and class: how many of its epochs
    ended with G_S's masks of the *training* batches holding no voxel of the class
    (``fg_pred_<k> == 0``), and the first and last such epoch. A class that is empty
    for most of a training learns only in the epochs left after it reappears."""
    rows = []
    for label, folder in runs.items():
        path = Path(str(folder)) / "history.csv"
        if not path.is_file():
            raise InputError(f"{path}: no training history (expected a run folder)")
        history = pd.read_csv(path)
        if "fg_pred_0" not in history.columns:
            raise InputError(f"{path} has no fg_pred_0: not a CycleGAN history")
        for k, name in enumerate(CLASS_NAMES):
            if f"fg_pred_{k}" not in history.columns:
                break
            empty = history.loc[history[f"fg_pred_{k}"] == 0, "epoch"].astype(int)
            rows.append({
                "run": label,
                "class": name,
                "empty epochs": len(empty),
                "of": len(history),
                "first": int(empty.min()) if len(empty) else None,
                "last": int(empty.max()) if len(empty) else None,
            })  # fmt: skip
    return pd.DataFrame(rows).set_index(["run", "class"])
