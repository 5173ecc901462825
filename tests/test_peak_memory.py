"""Peak memory per chapter: recorded by the kernel during the book build, read back by
the timing chapter; trainings from a kernel run in a child process."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from fluoseg import notebook

ROOT = Path(__file__).resolve().parents[1]


def test_peak_rss_counts_this_process_and_its_children() -> None:
    peak = notebook.peak_rss_mib()
    assert peak["self"] > 10  # a Python process with numpy/pandas holds > 10 MiB
    assert peak["peak"] == pytest.approx(peak["self"] + peak["children"])
    import resource

    # this process's own peak, not its parent's at the fork (as ru_maxrss may count)
    assert peak["self"] <= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + 1


def test_record_peak_rss_keys_by_notebook(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "_build" / "peak_rss.json"
    monkeypatch.delenv(notebook.PEAK_RSS_ENV, raising=False)
    monkeypatch.delenv(notebook.NOTEBOOK_ENV, raising=False)
    assert notebook.record_peak_rss() is None  # outside a build: nothing written
    monkeypatch.setenv(notebook.PEAK_RSS_ENV, str(target))
    monkeypatch.setenv(notebook.NOTEBOOK_ENV, "book/01_theory/metrics")
    notebook.record_peak_rss()
    notebook.record_peak_rss(key="book/04_experiments/comparison")
    table = json.loads(target.read_text())
    assert set(table) == {"book/01_theory/metrics", "book/04_experiments/comparison"}
    assert table["book/01_theory/metrics"]["peak"] > 10


def test_chapter_resources_reads_the_build(tmp_path: Path) -> None:
    build = tmp_path / "_build"
    assert notebook.chapter_resources(build).empty
    build.mkdir()
    (build / "peak_rss.json").write_text(
        json.dumps({"book/a": {"peak": 900.0}, "book/b": {"peak": 2500.0}})
    )
    table = notebook.chapter_resources(build)
    assert list(table.index) == ["book/a", "book/b"]
    assert table.loc["book/b", "peak_rss_mib"] == 2500.0
    assert list(table.columns) == ["seconds", "peak_rss_mib"]


def test_chapter_resources_reads_jupyter_cache_times(tmp_path: Path) -> None:
    jupyter_cache = pytest.importorskip("jupyter_cache")
    import nbformat
    from jupyter_cache.base import CacheBundleIn

    build = tmp_path / "_build"
    nb_path = tmp_path / "book" / "x.ipynb"
    nb_path.parent.mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    nbformat.write(nb, nb_path)
    cache = jupyter_cache.get_cache(str(build / ".jupyter_cache"))
    cache.cache_notebook_bundle(
        CacheBundleIn(nb, str(nb_path), data={"execution_seconds": 7.5}),
        check_validity=False,
    )
    table = notebook.chapter_resources(build)
    assert table.loc["book/x", "seconds"] == 7.5


def test_the_book_build_sets_the_variables(monkeypatch) -> None:
    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        import peak_memory
    finally:
        sys.path.pop(0)

    class App:
        outdir = "/b/_build/html"

        def connect(self, event, fn):
            self.__dict__[event] = fn

    app = App()
    peak_memory.setup(app)
    monkeypatch.delenv(notebook.PEAK_RSS_ENV, raising=False)
    monkeypatch.delenv(notebook.NOTEBOOK_ENV, raising=False)
    app.__dict__["builder-inited"](app)
    app.__dict__["source-read"](app, "book/04_experiments/comparison", [""])
    assert os.environ[notebook.PEAK_RSS_ENV] == "/b/_build/peak_rss.json"
    assert os.environ[notebook.NOTEBOOK_ENV] == "book/04_experiments/comparison"
    config = (ROOT / "_config.yml").read_text()
    assert "peak_memory: _ext" in config
    # the timing chapter, which tabulates the other chapters, is read last
    timing = "book/04_experiments/timing"
    docs = ["book/04_experiments/comparison", timing, "book/intro"]
    app.__dict__["env-before-read-docs"](app, None, docs)
    assert docs == ["book/04_experiments/comparison", "book/intro", timing]
    assert (ROOT / "book/04_experiments/timing.ipynb").is_file()


def test_isolation_default(monkeypatch) -> None:
    import fluoseg.train as T

    monkeypatch.delenv(T.TRAIN_SUBPROCESS_ENV, raising=False)
    assert T._isolate(True) and not T._isolate(False)
    assert not T.in_jupyter_kernel() and not T._isolate(None)  # pytest
    monkeypatch.setattr(T, "in_jupyter_kernel", lambda: True)
    assert T._isolate(None)  # inside a Jupyter kernel
    monkeypatch.setenv(T.TRAIN_SUBPROCESS_ENV, "0")
    assert not T._isolate(None)
    monkeypatch.setattr(T, "in_jupyter_kernel", lambda: False)
    monkeypatch.setenv(T.TRAIN_SUBPROCESS_ENV, "1")
    assert T._isolate(None)


@pytest.mark.slow
def test_ensure_result_in_a_child_process(tmp_path: Path, monkeypatch) -> None:
    """The child trains and scores; this process only reads the saved result."""
    from fluoseg import results

    monkeypatch.setenv("FLUOSEG_RUNS", str(tmp_path))
    monkeypatch.setenv("FLUOSEG_DATA", str(ROOT / "data"))

    def not_here(*a, **k):
        raise AssertionError("computed in this process")

    monkeypatch.setattr(results, "run_experiment", not_here)
    before = len(notebook.CHILD_PEAKS_MIB)
    res = results.ensure_result("unet-2class", "smoke", progress=False, isolate=True)
    assert res.name == "unet-2class" and res.profile == "smoke"
    assert (tmp_path / "smoke" / "results" / "unet-2class.json").is_file()
    assert len(notebook.CHILD_PEAKS_MIB) == before + 1


@pytest.mark.slow
def test_isolated_training_happens_in_a_child_process(
    tmp_path: Path, monkeypatch
) -> None:
    import fluoseg.train as T

    def no_fit_here(*a, **k):
        raise AssertionError("trained in this process")

    monkeypatch.setattr(T, "_fit", no_fit_here)
    run = T.train(
        model="unet",
        n_classes=2,
        profile="smoke",
        epochs=1,
        data_dir=ROOT / "data" / "smoke",
        out=tmp_path / "run",
        progress=False,
        isolate=True,
    )
    assert run.finished and len(run.history) == 1
    assert notebook.CHILD_PEAKS_MIB and notebook.CHILD_PEAKS_MIB[-1] > 100  # TF
    assert notebook.peak_rss_mib()["children"] >= notebook.CHILD_PEAKS_MIB[-1]
    # loading the finished run again needs no training either
    again = T.train(
        model="unet",
        n_classes=2,
        profile="smoke",
        epochs=1,
        data_dir=ROOT / "data" / "smoke",
        out=tmp_path / "run",
        progress=False,
        isolate=True,
    )
    assert again.path == run.path


def test_binder_generates_the_data_once_after_installing() -> None:
    post = ROOT / "postBuild"
    assert post.is_file() and os.access(post, os.X_OK)
    lines = [ln for ln in post.read_text().splitlines() if not ln.startswith("#")]
    assert "fluoseg data --profile cpu" in lines
    env = (ROOT / "environment.yml").read_text()
    assert "- -e ." in env  # the package (and its fluoseg command) is installed first


def test_the_package_lets_kernel_and_child_share_a_gpu() -> None:
    import fluoseg  # noqa: F401

    assert os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH") in ("true", "1", "false", "0")


@pytest.mark.slow
def test_run_experiment_in_a_child_process_sends_back_the_evaluation(
    tmp_path: Path, monkeypatch
) -> None:
    from fluoseg import results

    monkeypatch.setenv("FLUOSEG_RUNS", str(tmp_path))
    monkeypatch.setenv("FLUOSEG_DATA", str(ROOT / "data"))
    monkeypatch.setattr(results, "evaluate_run", None)  # never called here
    ev = results.run_experiment("unet-2class", "smoke", progress=False, isolate=True)
    assert set(ev.predictions) == set(ev.seconds) == {"I1", "I2"}
    assert ev.predictions["I1"].dtype.name == "uint8"
    assert ev.run.finished and ev.run.path.parent == tmp_path / "smoke"
    assert list(ev.average.index) == list(ev.result.metrics.index)
