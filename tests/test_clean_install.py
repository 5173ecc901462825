"""A chapter runs in a clean virtual environment with the package installed the way a
Colab cell installs it (from the local path instead of the repository URL), with no
``[book]`` extra: no myst-nb, no jupyter-book. About 85 s on the 2-core development
machine (pip cache and local wheels warm; nothing is downloaded)."""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "01_theory" / "metrics.ipynb"


@pytest.mark.slow
def test_chapter_runs_after_a_plain_install(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # a Colab runtime already has a Jupyter kernel and nbclient; fluoseg[cpu] brings
    # TensorFlow, which Colab also has (there the cell installs plain fluoseg)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            f"{ROOT}[cpu]",
            "ipykernel",
            "nbclient",
        ],
        check=True,
    )
    has_book = subprocess.run([str(python), "-c", "import myst_nb"]).returncode == 0
    assert not has_book, "the [book] extra must not be needed"
    script = (
        "import nbformat, nbclient, sys\n"
        f"nb = nbformat.read({str(CHAPTER)!r}, as_version=4)\n"
        "nbclient.NotebookClient(nb, timeout=600, kernel_name='python3',"
        f" resources={{'metadata': {{'path': {str(tmp_path)!r}}}}}).execute()\n"
        "text = [o.get('text', '') for c in nb.cells for o in c.get('outputs', [])]\n"
        "print(''.join(text))\n"
    )
    env = {**os.environ, "FLUOSEG_PROFILE": "smoke", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(python), "-c", script],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # glue fell back to printing what the book's text quotes
    assert "dice_nuc_dil1 = 0." in result.stdout
