"""Every chapter's first cell: the same bootstrap (install fluoseg from the repository
set in ``_config.yml`` when it is missing, then ``fluoseg.notebook.start``)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(
    p for p in (ROOT / "book").glob("**/*.ipynb") if ".ipynb_checkpoints" not in p.parts
)


def _first_cell(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])


def _repository() -> tuple[str, str]:
    spec = importlib.util.spec_from_file_location(
        "set_repository", ROOT / "scripts" / "set_repository.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.read_repository()


def test_every_chapter_starts_with_the_same_bootstrap() -> None:
    assert len(CHAPTERS) >= 20
    cells = {p.relative_to(ROOT).as_posix(): _first_cell(p) for p in CHAPTERS}
    reference = cells["book/01_theory/metrics.ipynb"]
    differ = [name for name, cell in cells.items() if cell != reference]
    assert not differ, f"copy book/01_theory/metrics.ipynb's first cell to {differ}"
    url, branch = _repository()
    assert f'"FLUOSEG_INSTALL_FROM", "git+{url}@{branch}"' in reference
    # plain Python until fluoseg is known to be importable
    head = reference.split('if importlib.util.find_spec("fluoseg") is None:')[0]
    assert "fluoseg" not in head.replace("install fluoseg", "")
    assert reference.rstrip().endswith("profile = start()\nprofile")


class _Calls(list):
    def __call__(self, cmd, check=False, **kw):
        self.append(list(cmd))
        return subprocess.CompletedProcess(cmd, 0)


def _run_cell(monkeypatch, missing: set[str]) -> tuple[dict, _Calls]:
    calls = _Calls()
    monkeypatch.setattr(subprocess, "run", calls)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in missing else real(name, *a),
    )
    namespace: dict = {}
    exec(_first_cell(CHAPTERS[0]), namespace)
    return namespace, calls


def test_bootstrap_does_nothing_when_fluoseg_is_installed(monkeypatch) -> None:
    monkeypatch.setenv("FLUOSEG_PROFILE", "smoke")
    namespace, calls = _run_cell(monkeypatch, set())
    assert calls == []
    assert namespace["profile"].name == "smoke"


@pytest.mark.parametrize("has_tf", [True, False])
def test_bootstrap_installs_from_the_override_then_makes_data(
    monkeypatch, has_tf: bool
) -> None:
    monkeypatch.setenv("FLUOSEG_PROFILE", "smoke")
    monkeypatch.setenv("FLUOSEG_INSTALL_FROM", "file:///somewhere/fluoseg")
    missing = {"fluoseg"} | (set() if has_tf else {"tensorflow"})
    namespace, calls = _run_cell(monkeypatch, missing)
    extra = "" if has_tf else "[cpu]"
    assert calls == [
        [sys.executable, "-m", "pip", "install", "-q",
         f"fluoseg{extra} @ file:///somewhere/fluoseg"],
        [sys.executable, "-m", "fluoseg", "data"],
    ]  # fmt: skip
    assert namespace["profile"].name == "smoke"
