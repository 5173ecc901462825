"""JupyterLab from ``make venv`` renders the chapters' MyST (from the ``[book]`` extra).

Opened in JupyterLab, a chapter's admonitions, dropdown solutions and roles are MyST;
without ``jupyterlab-myst`` they show as raw fences. The extension must be installed,
enabled and compatible with the installed JupyterLab (``jupyter labextension list``
marks an incompatible one ``X`` and JupyterLab then does not load it).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_book_extra_pins_jupyterlab_myst() -> None:
    book = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["book"]
    assert any(spec.startswith("jupyterlab-myst==") for spec in book)


def test_installed_extension_is_enabled_and_compatible() -> None:
    pytest.importorskip("jupyterlab", reason="the [book] extra is not installed")
    jupyter = Path(sys.executable).parent / "jupyter"
    assert jupyter.exists(), f"no jupyter beside {sys.executable}"
    out = subprocess.run(
        [str(jupyter), "labextension", "list"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)  # no colours
    lines = [ln for ln in text.splitlines() if "jupyterlab-myst v" in ln]
    assert lines, f"jupyterlab-myst is not installed:\n{text}"
    assert "enabled" in lines[0] and "OK" in lines[0], lines[0]
    assert "is not compatible" not in text, text
