"""Publishing basics: one version, one repository URL, a licence file."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import fluoseg

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "set_repository.py"


def test_version_has_one_source() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in meta["project"]
    assert meta["project"]["dynamic"] == ["version"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "fluoseg.__version__"
    }
    # the installed metadata was built from __version__ (reinstall after changing it)
    assert importlib.metadata.version("fluoseg") == fluoseg.__version__


def test_licence_file_matches_the_declared_licence() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_every_copy_of_the_repository_url_follows_config() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    url, branch = _load_script().read_repository()
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["urls"]["Repository"] == url
    for doc in ("README.md", "book/intro.md"):
        text = (ROOT / doc).read_text()
        assert f"git+{url}@{branch}" in text
        assert "<repository URL>" not in text and "this repository's URL" not in text


def test_set_repository_rewrites_every_copy(tmp_path: Path) -> None:
    for rel in (
        "_config.yml",
        "pyproject.toml",
        "README.md",
        "book/intro.md",
        "src/fluoseg/export.py",
        "scripts/set_repository.py",
        "book/01_theory/metrics.ipynb",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, tmp_path / rel)
    config = tmp_path / "_config.yml"
    config.write_text(
        config.read_text()
        .replace("url: https://github.com/fluoseg/fluoseg", "url: https://x.org/me/fs")
        .replace("branch: main", "branch: course-2027")
    )
    script = [sys.executable, str(tmp_path / "scripts" / "set_repository.py")]
    stale = subprocess.run([*script, "--check"], capture_output=True, text=True)
    assert stale.returncode == 1
    assert "pyproject.toml" in stale.stderr and "export.py" in stale.stderr
    done = subprocess.run(script, capture_output=True, text=True, check=True)
    assert "https://mybinder.org/v2/gh/me/fs/course-2027" in done.stdout
    assert subprocess.run([*script, "--check"]).returncode == 0
    assert "git+https://x.org/me/fs@course-2027" in (tmp_path / "README.md").read_text()
    chapter = (tmp_path / "book/01_theory/metrics.ipynb").read_text()
    assert "git+https://x.org/me/fs@course-2027" in chapter
    export = (tmp_path / "src/fluoseg/export.py").read_text()
    assert 'BOOK_URL = "https://x.org/me/fs"' in export
    assert 'BOOK_BRANCH = "course-2027"' in export
    meta = tomllib.loads((tmp_path / "pyproject.toml").read_text())["project"]
    assert meta["urls"]["Issues"] == "https://x.org/me/fs/issues"


def _load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("set_repository", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module
