"""Profiles and paths.

A *profile* fixes how much compute the course spends. It is chosen by the
environment variable ``FLUOSEG_PROFILE`` (``smoke``, ``cpu``, ``gpu`` or ``paper``;
when it is unset: ``gpu`` if TensorFlow sees a GPU, else ``cpu``), and every notebook
prints it, with the device, in its first cell (``fluoseg.notebook.start``)::

    from fluoseg.config import get_profile
    profile = get_profile()

- ``smoke``: seconds per model, tiny data; used by ``make test`` to run every notebook.
- ``cpu``: the default. Real results on a 2-core laptop; the book in about an hour.
- ``gpu``: a free Colab GPU session (a T4): the book in about an hour, 64^3 patches
  and models between ``cpu`` and ``paper`` (sized in ``fluoseg.models.configs``).
- ``paper``: the thesis's hyperparameters and 64^3 patches, meant for a GPU.

Profiles are data: ``fluoseg/resources/profiles/<name>.json`` holds what all chapters
share (the dataset, the patch geometry, the inference window) and the profile's *plan*:
sections read by the models (``models``), the training loop (``train``, see
``fluoseg.training.plan``) and the pages (``notes``). No code branches on a profile's
name; a new profile is a new file.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from fluoseg.errors import InputError

PROFILE_ENV = "FLUOSEG_PROFILE"
DATA_ENV = "FLUOSEG_DATA"
RUNS_ENV = "FLUOSEG_RUNS"
PROFILE_NAMES: tuple[str, ...] = ("smoke", "cpu", "gpu", "paper")
DEFAULT_PROFILE = "cpu"
PLAN_SECTIONS: tuple[str, ...] = ("models", "train", "notes")
GPU_PROFILE = "gpu"


@dataclass(frozen=True)
class Profile:
    """Compute budget shared by every chapter.

    Attributes:
        name: ``smoke``, ``cpu``, ``gpu`` or ``paper``.
        description: one line for readers.
        dataset: name of the generated dataset folder under the data root
            (``smoke`` for a tiny one, ``standard`` for the thesis-sized one).
        patch_shape: training patch (Z, Y, X) in voxels.
        inference_patch_shape: sliding-window size (Z, Y, X) used at test time.
        inference_overlap: fraction of the window shared by neighbouring windows.
        inference_batch: windows predicted per model call.
        foreground_fraction: share of training patches centred on an object.
        seed: the seed of everything random in the course.
        book_minutes: expected wall time of the whole book on 2 CPU cores.
        plan: the per-model settings of the profile, as data: ``models`` (model
            configurations), ``train`` (training-loop budgets, read by
            ``fluoseg.training.plan``) and ``notes`` (what the pages say about it).
    """

    name: str
    description: str
    dataset: str
    patch_shape: tuple[int, int, int]
    inference_patch_shape: tuple[int, int, int]
    inference_overlap: float
    inference_batch: int
    foreground_fraction: float
    seed: int = 0
    book_minutes: float = 0.0
    extra: dict = field(default_factory=dict, compare=False)
    plan: dict = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict:
        """The profile as a JSON-serialisable dictionary (without its plan)."""
        d = asdict(self)
        d.pop("extra")
        d.pop("plan")
        return d

    def section(self, name: str) -> dict:
        """One section of the profile's plan (``models``, ``train``, ``notes``)."""
        return self.plan.get(name, {})


def _profiles() -> dict[str, Profile]:
    """Every profile, read from ``fluoseg/resources/profiles/<name>.json``."""
    folder = resources.files("fluoseg") / "resources" / "profiles"
    out = {}
    for name in PROFILE_NAMES:
        d = json.loads((folder / f"{name}.json").read_text())
        plan = {k: d.pop(k) for k in PLAN_SECTIONS}
        for key in ("patch_shape", "inference_patch_shape"):
            d[key] = tuple(d[key])
        out[name] = Profile(**d, plan=plan)
    return out


def gpu_names() -> list[str]:
    """The GPUs TensorFlow sees (empty without a GPU or without TensorFlow).

    TensorFlow is imported only where an NVIDIA driver is present, so that asking on a
    machine without a GPU costs nothing.
    """
    if not (Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi")):
        return []
    try:
        import tensorflow as tf
    except ImportError:
        return []
    names = []
    for d in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(d)
        except (RuntimeError, ValueError):  # pragma: no cover - driver-dependent
            details = {}
        names.append(str(details.get("device_name") or d.name))
    return names


def default_profile_name() -> str:
    """``$FLUOSEG_PROFILE`` if set, else ``gpu`` if TensorFlow sees a GPU, else cpu."""
    name = os.environ.get(PROFILE_ENV, "").strip()
    if name:
        return name
    return GPU_PROFILE if gpu_names() else DEFAULT_PROFILE


def get_profile(name: str | None = None) -> Profile:
    """Return the profile ``name``, else :func:`default_profile_name`'s.

    Raises:
        InputError: the name is not one of ``smoke``, ``cpu``, ``gpu``, ``paper``.
    """
    if name is None:
        name = default_profile_name()
    profiles = _profiles()
    if name not in profiles:
        raise InputError(
            f"unknown profile {name!r}: expected one of {', '.join(PROFILE_NAMES)}"
        )
    return profiles[name]


def repo_root(start: Path | None = None) -> Path | None:
    """The fluoseg checkout containing ``start`` (default: the working directory).

    Found by walking up to a folder holding both ``_toc.yml`` and ``pyproject.toml``;
    ``None`` outside a checkout (e.g. when the package is installed from a wheel).
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "pyproject.toml").is_file():
            return folder
    src_checkout = Path(__file__).resolve().parents[2]
    if (src_checkout / "_toc.yml").is_file():
        return src_checkout
    return None


def _root_or_home(sub: str) -> Path:
    root = repo_root()
    return (root / sub) if root is not None else Path.home() / ".fluoseg" / sub


def data_root() -> Path:
    """Folder holding the generated datasets: ``$FLUOSEG_DATA`` or ``<repo>/data``."""
    env = os.environ.get(DATA_ENV, "").strip()
    return Path(env).expanduser() if env else _root_or_home("data")


def dataset_dir(profile: Profile | str | None = None) -> Path:
    """Folder of the dataset used by ``profile``.

    If ``$FLUOSEG_DATA`` points directly at a dataset (it holds ``manifest.json`` or
    ``train/``), that folder is used whatever the profile: this is how a reader runs the
    book on the real data.
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    root = data_root()
    if (root / "manifest.json").is_file() or (root / "train").is_dir():
        return root
    return root / prof.dataset


def runs_root() -> Path:
    """Folder where trained models are kept: ``$FLUOSEG_RUNS`` or ``<repo>/runs``."""
    env = os.environ.get(RUNS_ENV, "").strip()
    return Path(env).expanduser() if env else _root_or_home("runs")
