"""The book's experiments and how their results are obtained.

An :class:`Experiment` is one of the book's trainings and where the thesis reports its
counterpart; :func:`experiments` lists them (Tables 5.1-5.6 and the seed-variance
runs). :func:`run_experiment` trains (or loads the finished run of) an experiment
and scores it with ``fluoseg.evaluation.evaluate.evaluate_run``; :func:`ensure_result`
returns its saved result (``fluoseg.report.store``), computing it only when it is
missing or stale.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fluoseg.config import Profile, get_profile
from fluoseg.errors import InputError
from fluoseg.evaluation.evaluate import (
    Evaluation,
    evaluate_run,
    evaluation_from_result,
    is_current,
)
from fluoseg.report.store import Result, load_result
from fluoseg.run import CONFIG_FILE, Run
from fluoseg.training.isolate import run_in_subprocess, should_isolate
from fluoseg.training.trainer import planned_settings, train


@dataclass(frozen=True)
class Experiment:
    """One of the book's trainings and where the thesis reports its counterpart.

    Attributes:
        name: result name, e.g. ``"unet-2class"``.
        label: row label in the book's tables, e.g. ``"U-Net + Pre"``.
        model, n_classes, raw, unsupervised, seed: arguments of
            ``fluoseg.training.trainer.train``.
        thesis_row: the thesis's row for the same model (``fluoseg.thesis``), if any.
        thesis_table: the thesis's table number, e.g. ``"5.1"``.
        overrides: ``(field, value)`` pairs replacing the profile's model
            configuration (``fluoseg.training.trainer.with_overrides``), e.g. the
            thesis's recipe at cpu scale.
        budget: the entry of the profile's ``train`` plan this experiment trains
            with, where the profile has one (``fluoseg.training.plan.train_config``;
            default: its run kind, ``fluoseg.run.run_kind``, e.g.
            ``"cyclegan-2class-unsup"``, else the model's entry).
    """

    name: str
    label: str
    model: str
    n_classes: int
    raw: bool = False
    unsupervised: bool = False
    seed: int = 0
    thesis_row: str | None = None
    thesis_table: str | None = None
    overrides: tuple[tuple[str, Any], ...] = ()
    budget: str | None = None

    def train_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``fluoseg.training.trainer.train`` for this
        experiment."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "n_classes": self.n_classes,
            "raw": self.raw,
            "unsupervised": self.unsupervised,
            "seed": self.seed,
        }
        if self.overrides:
            kwargs["config_overrides"] = dict(self.overrides)
        if self.budget:
            kwargs["budget"] = self.budget
        return kwargs


def experiments() -> dict[str, Experiment]:
    """The book's experiments by name: Tables 5.1-5.6 and the seed-variance runs."""
    rows = [
        Experiment("unet-2class-raw", "U-Net (raw)", "unet", 2, raw=True,
                   thesis_row="U-Net (raw)", thesis_table="5.1"),
        Experiment("unet-2class", "U-Net + Pre", "unet", 2,
                   thesis_row="U-Net + Pre", thesis_table="5.1"),
        Experiment("unet-3class", "U-Net 3-class", "unet", 3,
                   thesis_row="U-Net 3-class", thesis_table="5.2"),
        Experiment("vox2vox-2class", "Vox2Vox", "vox2vox", 2,
                   thesis_row="Vox2Vox", thesis_table="5.3"),
        Experiment("vox2vox-3class", "Vox2Vox 3-class", "vox2vox", 3,
                   thesis_row="Vox2Vox 3-class", thesis_table="5.4"),
        Experiment("cyclegan-2class", "CycleGAN (supervised)", "cyclegan", 2,
                   thesis_row="CycleGAN (supervised)", thesis_table="5.5"),
        Experiment("cyclegan-2class-unsup", "CycleGAN (unsupervised)", "cyclegan", 2,
                   unsupervised=True, thesis_row="CycleGAN (unsupervised)",
                   thesis_table="5.5"),
        Experiment("cyclegan-3class-unsup", "CycleGAN 3-class (unsupervised)",
                   "cyclegan", 3, unsupervised=True,
                   thesis_row="CycleGAN 3-class (unsupervised)", thesis_table="5.6"),
        Experiment("unet-2class-seed1", "U-Net + Pre (seed 1)", "unet", 2, seed=1),
        Experiment("unet-2class-seed2", "U-Net + Pre (seed 2)", "unet", 2, seed=2),
        Experiment("cyclegan-2class-unsup-seed1", "CycleGAN (unsupervised, seed 1)",
                   "cyclegan", 2, unsupervised=True, seed=1),
        Experiment("cyclegan-2class-unsup-seed2", "CycleGAN (unsupervised, seed 2)",
                   "cyclegan", 2, unsupervised=True, seed=2),
    ]  # fmt: skip
    return {e.name: e for e in rows}


#: The thesis's CycleGAN recipe at cpu scale: what the cpu recipe replaced (soft cycle
#: masks into G_I, no weight averaging, a fixed 0.5 threshold, a clipped stretch). Not
#: one of the book's tables: the CycleGAN debugging page trains it to show what it
#: fixes.
THESIS_RECIPE = Experiment(
    "cyclegan-2class-unsup-thesis-recipe",
    "CycleGAN (unsupervised, thesis recipe)",
    "cyclegan",
    2,
    unsupervised=True,
    overrides=(
        ("cycle_mask", "soft"),
        ("ema_decay", 0.0),
        ("threshold_rule", "fixed"),
        ("stretch_clip", True),
    ),
    budget="cyclegan",  # the model's loop, even where the 2-class kind gets its own
)


def experiment(name: str) -> Experiment:
    """The experiment called ``name`` (see :func:`experiments`)."""
    known = experiments()
    if name not in known:
        raise InputError(
            f"unknown experiment {name!r}: expected one of {', '.join(known)}"
        )
    return known[name]


def trained_run(
    name: str | Experiment,
    profile: Profile | str | None = None,
    *,
    progress: bool = True,
) -> Run:
    """The finished run of experiment ``name`` (trained first if missing; in a child
    process inside a Jupyter kernel, as ``fluoseg.training.trainer.train`` decides),
    without scoring it on the test crops: for pages that only need the model (the
    CycleGAN debugging page works on the validation crop)."""
    exp = name if isinstance(name, Experiment) else experiment(name)
    prof = get_profile(profile) if not isinstance(profile, Profile) else profile
    return train(**exp.train_kwargs(), profile=prof, progress=progress)


def run_experiment(
    name: str | Experiment,
    profile: Profile | str | None = None,
    *,
    progress: bool = True,
    isolate: bool | None = None,
) -> Evaluation:
    """Train (or load the cached run of) experiment ``name`` (a name of
    :func:`experiments` or an :class:`Experiment`), then score it with
    ``fluoseg.evaluation.evaluate.evaluate_run``.

    Training goes through ``fluoseg.training.trainer.train`` with the experiment's
    arguments, so a finished run is loaded, not retrained; a current saved result of
    that run is not scored again (the test crops are segmented for their masks only:
    ``fluoseg.evaluation.evaluate.evaluation_from_result``). ``isolate`` (default as in
    ``fluoseg.training.trainer.train``: inside a Jupyter kernel): training and scoring
    run in child processes, one after the other (the scoring one, which sends back the
    scores and the predicted masks, does not keep the training's memory); the returned
    ``run`` is loaded from disk (its network only when it is used).
    """
    exp = name if isinstance(name, Experiment) else experiment(name)
    prof = get_profile(profile) if not isinstance(profile, Profile) else profile
    if should_isolate(isolate):
        # a finished run is found here; an unfinished one trains in its own child
        train(**exp.train_kwargs(), profile=prof, progress=progress, isolate=True)
        kwargs = {"name": name, "profile": prof, "progress": progress}
        parts = run_in_subprocess(
            "fluoseg.experiments", "_evaluation_parts", kwargs, True
        )
        return Evaluation(run=Run.load(parts.pop("run")), **parts)
    run = train(**exp.train_kwargs(), profile=prof, progress=progress)
    saved = load_result(exp.name, prof)
    if saved and is_current(saved) and saved.extra.get("run") == str(run.path):
        return evaluation_from_result(run, saved)  # scored before: the masks only
    known = experiments().get(exp.name)  # a registered one records its arguments
    trained_with = known.train_kwargs() if known else None
    return evaluate_run(run, exp.name, prof, trained_with=trained_with)


def _evaluation_parts(
    name: str | Experiment, profile: Profile, progress: bool
) -> dict[str, Any]:
    """:func:`run_experiment` in this process, its run replaced by the run's path."""
    ev = run_experiment(name, profile, progress=progress, isolate=False)
    parts = {f.name: getattr(ev, f.name) for f in dataclasses.fields(ev)}
    parts["run"] = str(ev.run.path)
    return parts


def ensure_result(
    name: str,
    profile: Profile | str | None = None,
    *,
    progress: bool = True,
    isolate: bool | None = None,
) -> Result:
    """The saved result ``name``, computed with :func:`run_experiment` if missing.

    A saved result whose run directory is gone or was retrained since is recomputed,
    so a chapter never shows numbers of a run that no longer exists; so is one scored
    by an older ``EVALUATION_VERSION`` (its run is loaded, not retrained, when its
    configuration is unchanged), and one whose run no longer has the configuration
    the experiment trains with (:func:`trained_as_planned`: the profile's plan
    changed since, while the old run's folder stayed on disk).

    ``isolate`` (default as in ``fluoseg.training.trainer.train``: inside a Jupyter
    kernel, or ``$FLUOSEG_TRAIN_SUBPROCESS``): training and scoring run in child
    processes, one after the other, and this one only reads the saved result, so a
    chapter's kernel never loads TensorFlow for it.
    """
    prof = get_profile(profile) if not isinstance(profile, Profile) else profile
    exp = experiment(name)
    found = load_result(name, prof)
    if found is not None and is_current(found) and trained_as_planned(found, exp, prof):
        return found
    if should_isolate(isolate):  # trained in its own child unless finished
        train(**exp.train_kwargs(), profile=prof, progress=progress, isolate=True)
        kwargs = {"name": name, "profile": prof, "progress": progress}
        run_in_subprocess("fluoseg.experiments", "run_experiment", kwargs)
        saved = load_result(name, prof)
        if saved is None:  # pragma: no cover - run_experiment always saves
            raise InputError(f"the child process saved no result {name!r}")
        return saved
    return run_experiment(name, prof, progress=progress).result


def seed_results(
    name: str, profile: Profile | str | None = None, **kwargs: Any
) -> list[Result]:
    """The results of experiment ``name`` and of its seed variants (the experiments
    named ``<name>-seed<k>``), in seed order, each from :func:`ensure_result`
    (``kwargs`` are passed on): the runs a mean ± sd over seeds is computed from."""
    experiment(name)  # an unknown name raises, listing the known ones
    variants = sorted(
        (e for n, e in experiments().items() if n.startswith(f"{name}-seed")),
        key=lambda e: e.seed,
    )
    names = [name, *(e.name for e in variants)]
    return [ensure_result(n, profile, **kwargs) for n in names]


def planned_config(exp: Experiment, profile: Profile) -> dict[str, Any]:
    """The parts of a run's ``config.json`` that ``exp`` trains with at ``profile``
    now: the profile, the model configuration and the training loop (as JSON)."""
    tc, mcfg = planned_settings(
        exp.model, exp.n_classes, profile, exp.raw, exp.unsupervised,
        budget=exp.budget, config_overrides=dict(exp.overrides),
    )  # fmt: skip
    planned = {
        "profile": profile.to_dict(),
        "model_config": mcfg.to_dict(),
        "train_config": tc.to_dict(),
    }
    return json.loads(json.dumps(planned))


def trained_as_planned(result: Result, exp: Experiment, profile: Profile) -> bool:
    """Whether the run behind ``result`` was trained as :func:`planned_config` says.

    A run folder's name carries its configuration's digest, so a changed plan trains
    a new run beside the old one; a result saved from the old run is stale although
    its run still exists.
    """
    try:
        path = Path(str(result.extra.get("run", ""))) / CONFIG_FILE
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return all(saved.get(k) == v for k, v in planned_config(exp, profile).items())
