"""Profiles and paths.

A *profile* fixes how much compute the course spends. It is chosen by the
environment variable ``FLUOSEG_PROFILE`` (``smoke``, ``cpu`` or ``paper``; default
``cpu``), and every notebook prints it in its first cell::

    from fluoseg.config import get_profile
    profile = get_profile()

- ``smoke``: seconds per model, tiny data; used by ``make test`` to run every notebook.
- ``cpu``: the default. Real results on a 2-core laptop; the book in about an hour.
- ``paper``: the thesis's hyperparameters and 64^3 patches, meant for a GPU.

Model architectures and training-loop settings per profile live with the models
(``fluoseg.models.configs``) and the trainer (``fluoseg.train``); this module holds what
all chapters share: the dataset, the patch geometry and the inference window.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fluoseg.errors import InputError

PROFILE_ENV = "FLUOSEG_PROFILE"
DATA_ENV = "FLUOSEG_DATA"
RUNS_ENV = "FLUOSEG_RUNS"
PROFILE_NAMES: tuple[str, ...] = ("smoke", "cpu", "paper")
DEFAULT_PROFILE = "cpu"


@dataclass(frozen=True)
class Profile:
    """Compute budget shared by every chapter.

    Attributes:
        name: ``smoke``, ``cpu`` or ``paper``.
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

    def to_dict(self) -> dict:
        """The profile as a JSON-serialisable dictionary."""
        d = asdict(self)
        d.pop("extra")
        return d


def _profiles() -> dict[str, Profile]:
    return {
        "smoke": Profile(
            name="smoke",
            description="seconds per model on tiny crops; for tests only",
            dataset="smoke",
            patch_shape=(16, 16, 16),
            inference_patch_shape=(16, 16, 16),
            inference_overlap=0.25,
            inference_batch=4,
            foreground_fraction=0.8,
            book_minutes=10,
        ),
        "cpu": Profile(
            name="cpu",
            description="real results on 2 CPU cores: small models, 32^3 patches",
            dataset="standard",
            patch_shape=(32, 32, 32),
            inference_patch_shape=(32, 64, 64),
            inference_overlap=0.25,
            inference_batch=4,
            foreground_fraction=0.65,
            book_minutes=60,
        ),
        "paper": Profile(
            name="paper",
            description="the thesis's hyperparameters and 64^3 patches; needs a GPU",
            dataset="standard",
            patch_shape=(64, 64, 64),
            inference_patch_shape=(64, 64, 64),
            inference_overlap=0.5,
            inference_batch=4,
            foreground_fraction=0.0,
            book_minutes=24 * 60,
        ),
    }


def get_profile(name: str | None = None) -> Profile:
    """Return the profile ``name``, else the one named by ``$FLUOSEG_PROFILE`` (or cpu).

    Raises:
        InputError: the name is not one of ``smoke``, ``cpu``, ``paper``.
    """
    if name is None:
        name = os.environ.get(PROFILE_ENV, "").strip() or DEFAULT_PROFILE
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
