"""Export a trained run as a bioimage.io model package (format 0.5).

A package is a folder (or the same files in a ``.zip``) that the bioimage.io tools
(``bioimageio.core``, deepImageJ, ilastik, napari plugins, the bioimage.io website)
read:

- ``rdf.yaml``: the model description (format 0.5): input ``image`` with axes
  ``batch, z, y, x, channel`` (channels ``nuclei``, ``golgi``), output
  ``probabilities`` of the same spatial size (one channel per class), the
  preprocessing, weights, test tensors, citations and a ``config.fluoseg`` entry with
  the run's settings (window, overlap, threshold, profile);
- ``segmenter.keras``: the segmentation network as Keras 3 (``keras_v3``) weights,
  saved without its training losses, so that plain Keras loads it (no fluoseg needed);
- ``test_input.npy`` / ``test_output.npy``: a (1, Z, Y, X, 2) image and the
  (1, Z, Y, X, n) probabilities this package must reproduce;
- ``cover.png`` (middle slice: image | probabilities) and ``README.md``.

Preprocessing is fluoseg's percentile stretch (:func:`fluoseg.transforms.
normalize_percentile`, thesis eq. 5.1) in bioimage.io's terms: ``scale_range`` per
sample and channel over ``z, y, x`` with percentiles 5 and 98, then ``clip`` to [0, 1]
(a run trained with ``--raw``: ``clip`` only). bioimage.io's ``scale_range`` divides by
``b - a + 1e-6`` and has no threshold for a flat channel, so its output differs from
fluoseg's by at most about 1e-6 relative on ordinary channels.

The input's spatial size is at least fluoseg's inference window and grows by the
network's down-sampling factor ``f`` (``ParameterizedSize(min=window, step=f)``); the
output has the input's size. The
package holds the raw network: fluoseg's sliding-window blending is not part of it, a
tool tiles as it sees fit (the ``halo`` on the outputs is what fluoseg's window overlap
leaves on each side). Threshold the probabilities at ``config.fluoseg.threshold`` (0.5)
for masks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fluoseg import CLASS_NAMES, __version__
from fluoseg.errors import InputError, require_tensorflow
from fluoseg.export_docs import cover, readme
from fluoseg.models import toy_batch
from fluoseg.models.registry import spec
from fluoseg.run import Run

if TYPE_CHECKING:  # pragma: no cover
    import keras

BOOK_URL = "https://github.com/fluoseg/fluoseg"
"""The course's repository: the book, the package and its ``references.bib``
(copied from ``_config.yml`` by ``scripts/set_repository.py``)."""

BOOK_BRANCH = "main"
"""The repository's published branch (copied from ``_config.yml`` like ``BOOK_URL``)."""

CITATIONS: tuple[dict[str, str], ...] = (
    {
        "text": "da Rosa, A. H. Deep Learning Methods for the Segmentation of "
        "Fluorescent Microscopy Images. MSc thesis, Instituto Superior Tecnico, "
        "Universidade de Lisboa.",
        "url": f"{BOOK_URL}/blob/{BOOK_BRANCH}/references.bib",
    },
    {
        "text": "The fluoseg developers. fluoseg: deep learning for 3D fluorescence "
        "microscopy segmentation (an executable Jupyter Book course and Python "
        "package).",
        "url": BOOK_URL,
    },
)
"""What the package asks its users to cite: the thesis (entry ``darosa_thesis`` of the
book's bibliography) and this book."""

PERCENTILES = (5.0, 98.0)
"""The percentile stretch's (a, b) percentiles, as in ``normalize_percentile``."""
SCALE_RANGE_EPS = 1e-6
"""bioimage.io ``scale_range``'s epsilon: ``(x - a) / (b - a + eps)``."""
FILES = {
    "weights": "segmenter.keras",
    "test_input": "test_input.npy",
    "test_output": "test_output.npy",
    "cover": "cover.png",
    "documentation": "README.md",
}


def size_step(config: dict) -> int:
    """The network's down-sampling factor: every input axis must be a multiple of it.

    U-Net and Vox2Vox: ``2 ** (depth - 1)``; CycleGAN: ``2 ** n_down`` (the model's
    configuration class says: ``down_levels``).
    """
    cls = spec(str(config.get("model"))).config
    return 2 ** cls.down_levels(config.get("model_config", {}))


def check_exportable(net: keras.Model, model: str) -> None:
    """Raise InputError unless ``net`` (and every nested model) has only built-in Keras
    layers, which any Keras 3 installation loads without fluoseg."""
    stack = list(net.layers)
    while stack:
        layer = stack.pop()
        module = type(layer).__module__
        if not module.startswith("keras."):
            raise InputError(
                f"model {model!r} cannot be exported: its layer {layer.name!r} is a "
                f"{type(layer).__name__} from {module} (expected built-in Keras "
                "layers only, as the U-Net, Vox2Vox and CycleGAN segmenters have)"
            )
        stack += list(getattr(layer, "layers", []))


def package_preprocess(
    x: np.ndarray, raw: bool = False, clip: bool = True
) -> np.ndarray:
    """The package's preprocessing in numpy, on a (B, Z, Y, X, C) batch.

    ``clip(scale_range(x), 0, 1)`` with bioimage.io's formula: per sample and channel,
    ``(x - p5) / (p98 - p5 + 1e-6)`` (``raw``: the clip only; ``clip=False``: the clip
    only below 0, for runs trained with ``stretch_clip=False``).
    """
    arr = np.asarray(x, dtype=np.float32)
    if not raw:
        a, b = np.percentile(arr, PERCENTILES, axis=(1, 2, 3), keepdims=True)
        arr = (arr - a) / (b - a + SCALE_RANGE_EPS)
    upper = 1.0 if (raw or clip) else None
    return np.clip(arr, 0.0, upper).astype(np.float32)


def default_test_input(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """A seeded (1, Z, Y, X, 2) toy image in [0, 1]: spheres (nuclei) touched by
    smaller spheres (Golgi) over uniform noise, as ``fluoseg.models.toy_batch``."""
    image, _ = toy_batch(batch=1, patch_shape=tuple(int(s) for s in shape), seed=seed)
    return np.asarray(image, dtype=np.float32)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _rdf(
    name: str,
    run: Run,
    step: int,
    window: Sequence[int],
    files: dict[str, Path],
) -> dict[str, Any]:
    require_tensorflow()
    import keras
    import tensorflow as tf
    from bioimageio.spec.model.v0_5 import ModelDescr

    n = run.n_classes
    spatial = ("z", "y", "x")
    overlap = float(run.profile.inference_overlap)
    halo = [int(w * overlap) // 2 for w in window]
    prep: list[dict[str, Any]] = []
    if not run.raw:
        prep.append(
            {
                "id": "scale_range",
                "kwargs": {
                    "axes": list(spatial),
                    "min_percentile": PERCENTILES[0],
                    "max_percentile": PERCENTILES[1],
                    "eps": SCALE_RANGE_EPS,
                },
            }
        )
    upper = {"max": 1.0} if (run.raw or run.stretch_clip) else {}
    prep.append({"id": "clip", "kwargs": {"min": 0.0, **upper}})
    out_axes: list[dict[str, Any]] = [{"type": "batch"}]
    for a, h in zip(spatial, halo, strict=True):
        axis: dict[str, Any] = {
            "type": "space",
            "id": a,
            "size": {"tensor_id": "image", "axis_id": a},
        }
        if h >= 1:
            axis["halo"] = h
        out_axes.append(axis)
    out_axes.append({"type": "channel", "channel_names": list(CLASS_NAMES[:n])})

    def file(key: str) -> dict[str, str]:
        return {"source": files[key].name, "sha256": _sha256(files[key])}

    return {
        "type": "model",
        "format_version": ModelDescr.implemented_format_version,
        "name": name,
        "description": f"3D {run.config['model']} segmenting "
        f"{', '.join(CLASS_NAMES[:n])} in two-channel fluorescence microscopy "
        "stacks (fluoseg course, after da Rosa's MSc thesis).",
        "authors": [{"name": "fluoseg developers"}],
        "cite": [dict(c) for c in CITATIONS],
        "license": "MIT",
        "git_repo": BOOK_URL,
        "tags": [
            "3d",
            "fluorescence-light-microscopy",
            "semantic-segmentation",
            "nuclei",
            "golgi",
            run.config["model"],
            "keras",
            "tensorflow",
        ],
        "documentation": file("documentation"),
        "covers": [file("cover")],
        "timestamp": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "inputs": [
            {
                "id": "image",
                "description": "image [nuclei, golgi] (float32; any intensity range "
                "unless the run is raw)",
                "axes": [
                    {"type": "batch"},
                    *(
                        {"type": "space", "id": a, "size": {"min": w, "step": step}}
                        for a, w in zip(spatial, window, strict=True)
                    ),
                    {"type": "channel", "channel_names": ["nuclei", "golgi"]},
                ],
                "test_tensor": file("test_input"),
                "data": {"type": "float32"},
                "preprocessing": prep,
            }
        ],
        "outputs": [
            {
                "id": "probabilities",
                "description": "per-class probabilities; threshold at 0.5 for masks",
                "axes": out_axes,
                "test_tensor": file("test_output"),
                "data": {"type": "float32", "range": [0.0, 1.0]},
            }
        ],
        "weights": {
            "keras_v3": {
                **file("weights"),
                "keras_version": keras.__version__,
                "backend": ["tensorflow", tf.__version__.split("-")[0]],
            }
        },
        "config": {
            "fluoseg": {
                "version": __version__,
                "run": run.path.name,
                "model": run.config["model"],
                "n_classes": n,
                "raw": run.raw,
                "profile": run.profile.name,
                "window": [int(w) for w in window],
                "overlap": overlap,
                "threshold": 0.5,
                # a CycleGAN trained with threshold_rule="mask_share": keep, per
                # class, this share of each volume's most probable voxels instead
                "mask_share": run.mask_share,
            }
        },
    }


def validate_package(path: str | os.PathLike) -> Any:
    """Load a package with ``bioimageio.spec`` (format checks and file hashes) and
    return its validation summary.

    A static check gives ``.status == "valid-format"`` for a valid package (and
    ``"failed"`` otherwise); ``"passed"`` is what ``bioimageio.core.test_model`` gives
    once the weights have also reproduced the test tensors."""
    from bioimageio.spec import load_description

    descr = load_description(Path(path), format_version="discover")
    return descr.validation_summary


def test_package(path: str | os.PathLike) -> Any:
    """Run a package's test tensors through ``bioimageio.core.test_model`` (offline)
    and return its summary (``.status == "passed"`` when they are reproduced).

    bioimageio.core sets ``KERAS_BACKEND`` in ``os.environ`` (to ``torch`` unless
    the variable was set before it was imported), which every later subprocess, such
    as a ``fluoseg`` command, would inherit: here it is ``tensorflow`` while the test
    runs and restored afterwards.
    """
    before = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    try:
        from bioimageio.core import test_model

        return test_model(Path(path))
    finally:
        if before is None:
            os.environ.pop("KERAS_BACKEND", None)
        else:
            os.environ["KERAS_BACKEND"] = before


test_package.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def export_run(
    run: Run | str | os.PathLike,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    test_input: np.ndarray | None = None,
    name: str | None = None,
) -> Path:
    """Write ``run`` as a bioimage.io model package (a folder, or a ``.zip`` file).

    Args:
        run: a finished :class:`fluoseg.run.Run` or its folder.
        out: the package folder, or a path ending in ``.zip``.
        overwrite: replace an existing ``out``.
        test_input: (Z, Y, X, 2) or (1, Z, Y, X, 2) image for the test tensors, its
            spatial size a multiple of the down-sampling factor (default: a seeded
            toy image of the inference window's size).
        name: the model's name (default from the run).

    The package is assembled in a temporary folder beside ``out``, validated with
    ``bioimageio.spec`` and moved into place (a zip is written whole, then renamed).

    Raises:
        InputError: an unfinished run, a model with fluoseg-only layers, a bad
            ``test_input``, an existing ``out`` without ``overwrite``.
    """
    run = run if isinstance(run, Run) else Run.load(run)
    dest = Path(out)
    if dest.exists() and not overwrite:
        raise InputError(f"{dest}: already exists (pass --overwrite to replace it)")
    if not dest.parent.is_dir():
        raise InputError(f"{dest}: folder {dest.parent} does not exist")
    if not run.finished:
        raise InputError(
            f"{run.path}: training has not finished (expected a finished run; run "
            "fluoseg train again to resume it)"
        )
    net = run.segmenter
    check_exportable(net, str(run.config["model"]))
    step = size_step(run.config)
    window = tuple(-(-int(w) // step) * step for w in run._window())
    x = _test_batch(test_input, window, step)
    expected = np.asarray(
        net.predict_on_batch(package_preprocess(x, run.raw, run.stretch_clip)),
        dtype=np.float32,
    )
    name = name or (
        f"fluoseg 3D {run.config['model']} nuclei and Golgi "
        f"{run.n_classes} classes ({run.profile.name})"
    )
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as tmp:
        stage = Path(tmp) / "package"
        stage.mkdir()
        files = {k: stage / v for k, v in FILES.items()}
        net.save(files["weights"])  # loaded with compile=False: no training losses
        np.save(files["test_input"], x)
        np.save(files["test_output"], expected)
        cover(files["cover"], x, expected)
        files["documentation"].write_text(readme(name, run, step, window))
        import yaml

        rdf = _rdf(name, run, step, window, files)
        (stage / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
        summary = validate_package(stage / "rdf.yaml")
        if summary.status == "failed":
            errors = "; ".join(f"{e.loc}: {e.msg}" for e in summary.errors) or "?"
            raise RuntimeError(f"the package is not valid bioimage.io: {errors}")
        return _move_into_place(stage, dest, Path(tmp), overwrite)


def _test_batch(
    test_input: np.ndarray | None, window: Sequence[int], step: int
) -> np.ndarray:
    if test_input is None:
        return default_test_input(window)
    x = np.asarray(test_input, dtype=np.float32)
    x = x[None] if x.ndim == 4 else x
    if x.ndim != 5 or x.shape[0] != 1 or x.shape[-1] != 2:
        raise InputError(
            f"test input of shape {np.asarray(test_input).shape}: expected "
            "(Z, Y, X, 2) [nuclei, golgi]"
        )
    if any(s % step for s in x.shape[1:4]) or not np.all(np.isfinite(x)):
        raise InputError(
            f"test input of shape {x.shape[1:4]}: expected finite values and z, y, x "
            f"multiples of {step} (the network's down-sampling factor)"
        )
    return x


def _move_into_place(stage: Path, dest: Path, tmp: Path, overwrite: bool) -> Path:
    """Rename the staged package (or its zip) to ``dest``, replacing it if asked."""
    if dest.suffix.lower() == ".zip":
        packed = tmp / "package.zip"
        with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(stage.iterdir()):
                zf.write(f, f.name)
        os.replace(packed, dest)
        return dest
    if dest.exists():
        if not overwrite:  # appeared while we were working
            raise InputError(f"{dest}: already exists (pass --overwrite to replace it)")
        old = tmp / "old"
        os.replace(dest, old)  # a folder cannot be replaced in one rename
    os.replace(stage, dest)
    shutil.rmtree(tmp / "old", ignore_errors=True)
    return dest
