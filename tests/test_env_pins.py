"""The Binder environment and the package metadata pin the same versions.

Binder installs what ``make`` installs: the dependencies and the ``cpu``, ``book`` and
``test`` extras (TensorFlow only through ``cpu`` or ``tf``).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins_from_pyproject() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(meta["dependencies"])
    for extra in ("cpu", "book", "test"):
        specs += meta["optional-dependencies"][extra]
    pins = {}
    for spec in specs:
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^;\s]+)", spec)
        if m and "platform_machine != 'x86_64'" not in spec:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def _pins_from_environment() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"^\s*-\s*([A-Za-z0-9_.-]+)==(\S+)\s*$", line)
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def test_every_direct_dependency_is_pinned_in_both_files() -> None:
    project, env = _pins_from_pyproject(), _pins_from_environment()
    assert project, "no pins found in pyproject.toml"
    assert project == env


def test_tensorflow_comes_only_from_an_extra() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in meta["dependencies"] if d.startswith("tensorflow")]
    extras = meta["optional-dependencies"]
    assert extras["cpu"] == [
        "tensorflow-cpu==2.21.0; platform_machine == 'x86_64'",
        "tensorflow==2.21.0; platform_machine != 'x86_64'",
    ]
    assert extras["tf"] == ["tensorflow==2.21.0"]
    assert meta["requires-python"] == ">=3.11"
    makefile = (ROOT / "Makefile").read_text()
    assert 'pip install --quiet -e ".[cpu,book,test]"' in makefile
