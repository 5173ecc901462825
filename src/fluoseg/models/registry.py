"""The model registry: one :class:`ModelSpec` per model says everything the library
needs to know about it (its configuration class, how to build it, what the trainer
watches, its extra callbacks, its optimizers, whether it learns from unpaired masks).

A model is added by registering one spec (:func:`register`); nothing else in the
library branches on a model's name. :func:`model_config` gives a registered model's
configuration at a profile (the ``models`` section of the profile's plan). The three
models of the book are registered at the bottom of this module. Builders and callback
factories may be given as ``"module:function"`` strings, imported on first use, so
that importing the registry (and ``fluoseg.models``) never imports TensorFlow.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fluoseg.config import Profile, get_profile
from fluoseg.errors import InputError
from fluoseg.models.configs import (
    CycleGANConfig,
    ModelConfig,
    UNetConfig,
    Vox2VoxConfig,
)

Ref = str | Callable[..., Any]
"""A callable, or the ``"module:attribute"`` path of one (imported on first use)."""


def resolve(ref: Ref) -> Callable[..., Any]:
    """The callable ``ref`` names (``ref`` itself when it is already callable)."""
    if callable(ref):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ModelSpec:
    """What the library knows about one model.

    Attributes:
        name: the model's name (``--model``; run folders start with it).
        title: how the text names it (``"CycleGAN"``).
        config: its configuration dataclass (``fluoseg.models.configs``).
        build: ``build(config) -> keras.Model``, compiled (or its path).
        monitor: the validation value the trainer's early stopping and best
            checkpoint watch.
        mode: ``"min"`` or ``"max"``: which way ``monitor`` improves.
        callbacks: ``callbacks(model, config, probe=..., epochs=...) -> list`` of
            model-specific Keras callbacks (or its path); ``None``: none.
        optimizers: the model's attributes holding its optimizers.
        unpaired: its mask side is drawn independently of the images (a CycleGAN):
            the sampler draws unpaired masks and validation masks come from that
            domain.
        unsupervised: it can learn with no annotation (``unsupervised=True``: the
            mask domain is the synthetic masks; patches centre on bright blobs).
    """

    name: str
    title: str
    config: type
    build: Ref
    monitor: str = "val_loss"
    mode: str = "min"
    callbacks: Ref | None = None
    optimizers: tuple[str, ...] = ("optimizer",)
    unpaired: bool = False
    unsupervised: bool = False

    def check_config(self, config: Any) -> None:
        """Raise ``InputError`` unless ``config`` is this model's configuration."""
        if not isinstance(config, self.config):
            raise InputError(
                f"model {self.name!r} needs a {self.config.__name__}, got "
                f"{type(config).__name__}"
            )


_SPECS: dict[str, ModelSpec] = {}


def register(model_spec: ModelSpec) -> ModelSpec:
    """Add (or replace) ``model_spec`` under its name; returns it."""
    _SPECS[model_spec.name] = model_spec
    return model_spec


def unregister(name: str) -> None:
    """Remove the model ``name`` from the registry (no error if absent)."""
    _SPECS.pop(name, None)


def names() -> tuple[str, ...]:
    """The registered model names, in registration order."""
    return tuple(_SPECS)


def spec(name: str) -> ModelSpec:
    """The spec of model ``name``.

    Raises:
        InputError: no model of that name is registered.
    """
    if name not in _SPECS:
        raise InputError(f"unknown model {name!r}: expected one of {', '.join(_SPECS)}")
    return _SPECS[name]


register(
    ModelSpec(
        "unet",
        "U-Net",
        UNetConfig,
        build="fluoseg.models.unet3d:build_unet",
        monitor="val_loss",
    )
)
register(
    ModelSpec(
        "vox2vox",
        "Vox2Vox",
        Vox2VoxConfig,
        build="fluoseg.models.vox2vox:build_vox2vox",
        monitor="val_dice_loss",
        optimizers=("g_optimizer", "d_optimizer"),
    )
)
register(
    ModelSpec(
        "cyclegan",
        "CycleGAN",
        CycleGANConfig,
        build="fluoseg.models.cyclegan:build_cyclegan",
        monitor="val_selection_loss",
        callbacks="fluoseg.models.cyclegan_callbacks:cyclegan_callbacks",
        optimizers=("g_optimizer", "d_optimizer"),
        unpaired=True,
        unsupervised=True,
    )
)


def model_config(
    name: str, profile: str | Profile | None = None, n_classes: int = 2
) -> ModelConfig:
    """The configuration of model ``name`` at ``profile`` for ``n_classes`` outputs.

    Args:
        name: ``unet``, ``vox2vox`` or ``cyclegan``.
        profile: a profile or its name; ``None`` means ``$FLUOSEG_PROFILE`` (or cpu).
        n_classes: 2 (nuclei, Golgi) or 3 (+ nucleus-Golgi pair).

    Raises:
        InputError: unknown model or profile name, a class count not in 1-3, or a
            profile whose ``models`` section has no entry for the model.
    """
    cls = spec(name).config
    if n_classes not in (1, 2, 3):
        raise InputError(f"n_classes must be 1, 2 or 3, got {n_classes}")
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    section = prof.section("models")
    if name not in section:
        raise InputError(
            f"profile {prof.name!r} has no settings for model {name!r} (the "
            "'models' section of its profile file)"
        )
    fields: dict[str, Any] = {
        "n_classes": n_classes,
        "patch_shape": tuple(prof.patch_shape),
        **{key: tuple(weights[:n_classes]) for key, weights in cls._PER_CLASS},
    }
    for key, value in section[name].items():
        fields[key] = tuple(value) if isinstance(value, list) else value
    return cls(**fields)


def config_from_json(text: str) -> ModelConfig:
    """Rebuild any model's configuration from JSON holding a ``model`` key."""
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"model configuration is not valid JSON: {exc}") from exc
    if not isinstance(d, dict) or "model" not in d:
        raise InputError("model configuration JSON must be an object with a 'model'")
    cls = spec(str(d["model"])).config
    return cls.from_dict(d)
