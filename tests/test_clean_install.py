"""A chapter runs in a clean virtual environment where its first cell installs the
package, as in Colab: the environment starts with only a Jupyter kernel and nbclient
(what Colab has; TensorFlow aside), ``$FLUOSEG_INSTALL_FROM`` points the cell at this
checkout instead of the repository URL, and the cell installs ``fluoseg[cpu]`` (no
TensorFlow there yet; no ``[book]`` extra: no myst-nb, no jupyter-book) and generates
the smoke data. About 90 s on the 2-core development machine (pip cache and local
wheels warm; nothing is downloaded)."""

from __future__ import annotations

import os
import subprocess
import time
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "01_theory" / "metrics.ipynb"


@pytest.mark.slow
def test_first_cell_installs_the_package_and_the_chapter_runs(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "ipykernel", "nbclient"]
    subprocess.run(pip, check=True)
    missing = subprocess.run([str(python), "-c", "import fluoseg"], cwd=tmp_path)
    assert missing.returncode != 0, "fluoseg must not be installed before the cell"
    script = (
        "import nbformat, nbclient, sys\n"
        f"nb = nbformat.read({str(CHAPTER)!r}, as_version=4)\n"
        "nbclient.NotebookClient(nb, timeout=900, kernel_name='python3',"
        f" resources={{'metadata': {{'path': {str(tmp_path)!r}}}}}).execute()\n"
        "text = [o.get('text', '') for c in nb.cells for o in c.get('outputs', [])]\n"
        "print(''.join(text))\n"
    )
    env = {
        **os.environ,
        "FLUOSEG_PROFILE": "smoke",
        "FLUOSEG_INSTALL_FROM": ROOT.as_uri(),
        "FLUOSEG_DATA": str(tmp_path / "data"),
        "FLUOSEG_RUNS": str(tmp_path / "runs"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    for name in ("PYTHONPATH", "FLUOSEG_PEAK_RSS", "FLUOSEG_NOTEBOOK"):
        env.pop(name, None)
    result = subprocess.run(
        [str(python), "-c", script],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # the cell installed the package (with TensorFlow) and generated the smoke data
    show = subprocess.run(
        [str(python), "-m", "pip", "show", "fluoseg", "tensorflow-cpu"],
        capture_output=True,
        text=True,
    )
    assert "Name: fluoseg" in show.stdout and "Name: tensorflow" in show.stdout
    assert (tmp_path / "data" / "smoke" / "manifest.json").is_file()
    has_book = subprocess.run([str(python), "-c", "import myst_nb"]).returncode == 0
    assert not has_book, "the [book] extra must not be needed"
    assert "fluoseg 0." in result.stdout and "profile smoke" in result.stdout
    # glue fell back to printing what the book's text quotes
    assert "dice_nuc_dil1 = 0." in result.stdout
    print(f"clean install + chapter: {time.perf_counter() - t0:.0f} s")
