"""What every model configuration shares: JSON round trip and the common checks.

``_Config`` gives the frozen configuration dataclasses (``fluoseg.models.configs.unet``,
``.vox2vox``, ``.cyclegan``) their JSON form, the one saved beside a run's weights and
hashed into its run digest; ``_check_common`` and ``_check_divisible`` validate the
fields every model has. Pure Python (no TensorFlow import), cheap to import.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

from fluoseg.errors import InputError

NORMS: tuple[str, ...] = ("batch", "instance", "none")
INITS: tuple[str, ...] = ("glorot_uniform", "he_normal", "normal")

C = TypeVar("C", bound="_Config")


class _Config:
    """JSON helpers shared by the configuration dataclasses."""

    # Fields added after runs were recorded, left out of ``to_dict`` while they hold
    # their default: a configuration that does not use them saves the same JSON, and
    # so trains under the same run digest (``fluoseg.run.config_digest``), as before
    # they existed (its runs are loaded, not retrained); ``from_dict`` restores the
    # default of a missing field.
    _OMIT_AT_DEFAULT: tuple[str, ...] = ()

    # Per-class fields whose value at every profile is the thesis's weights cut to the
    # class count: (field name, one weight per class in class order, up to 3 classes).
    _PER_CLASS: tuple[tuple[str, tuple[float, ...]], ...] = ()

    @classmethod
    def down_levels(cls, saved: dict[str, Any]) -> int:
        """How many stride-2 down-samplings the segmenter of a saved configuration
        (``to_dict`` output, possibly partial) applies: ``depth - 1`` by default."""
        return max(int(saved.get("depth", 1)) - 1, 0)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-serialisable dictionary (tuples become lists)."""
        d = dataclasses.asdict(self)  # type: ignore[call-overload]
        defaults = {f.name: f.default for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        for key in self._OMIT_AT_DEFAULT:
            if d[key] == defaults[key]:
                del d[key]
        d["model"] = self.model  # type: ignore[attr-defined]
        return d

    def settings(self) -> dict[str, Any]:
        """Every field and its value, those ``to_dict`` omits at their default too."""
        return dataclasses.asdict(self)  # type: ignore[call-overload,no-any-return]

    def to_json(self) -> str:
        """The configuration as an indented JSON string (includes a ``model`` key)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        """Rebuild a configuration from ``to_dict()`` output.

        Raises:
            InputError: unknown keys, or a ``model`` key naming another model.
        """
        d = dict(d)
        model = d.pop("model", cls.model)  # type: ignore[attr-defined]
        if model != cls.model:  # type: ignore[attr-defined]
            raise InputError(
                f"configuration is for model {model!r}, expected {cls.model!r}"  # type: ignore[attr-defined]
            )
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise InputError(
                f"unknown {cls.__name__} keys {unknown}: expected some of "
                f"{sorted(fields)}"
            )
        for key, value in d.items():
            if isinstance(value, list):
                d[key] = tuple(value)
        return cls(**d)

    @classmethod
    def from_json(cls: type[C], text: str) -> C:
        """Rebuild a configuration from ``to_json()`` output."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"model configuration is not valid JSON: {exc}") from exc
        if not isinstance(d, dict):
            raise InputError("model configuration JSON must be an object {...}")
        return cls.from_dict(d)


def _check_common(cfg: Any) -> None:
    """Raise ``InputError`` unless the fields every model has are valid."""
    if cfg.n_classes not in (1, 2, 3):
        raise InputError(f"n_classes must be 1, 2 or 3, got {cfg.n_classes}")
    if cfg.in_channels < 1:
        raise InputError(f"in_channels must be >= 1, got {cfg.in_channels}")
    if len(cfg.patch_shape) != 3 or min(cfg.patch_shape) < 1:
        raise InputError(
            f"patch_shape must be (Z, Y, X) positive ints, got {cfg.patch_shape}"
        )
    if cfg.norm not in NORMS:
        raise InputError(f"norm must be one of {NORMS}, got {cfg.norm!r}")
    if cfg.init not in INITS:
        raise InputError(f"init must be one of {INITS}, got {cfg.init!r}")
    if cfg.batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {cfg.batch_size}")


def _check_divisible(cfg: Any, levels: int) -> None:
    """Raise ``InputError`` unless ``levels`` stride-2 steps divide the patch."""
    f = 2**levels
    if any(s % f for s in cfg.patch_shape):
        raise InputError(
            f"patch_shape {cfg.patch_shape} must be divisible by {f} "
            f"({levels} stride-2 levels)"
        )
