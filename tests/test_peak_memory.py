"""Peak memory per chapter: recorded by the kernel during the book build, read back by
the timing chapter; trainings from a kernel run in a child process."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from fluoseg import notebook

ROOT = Path(__file__).resolve().parents[1]
needs_proc = pytest.mark.skipif(
    not Path("/proc/self/statm").is_file(), reason="reads /proc (Linux)"
)


def test_peak_rss_counts_this_process_and_its_children() -> None:
    peak = notebook.peak_rss_mib()
    assert peak["self"] > 10  # a Python process with numpy/pandas holds > 10 MiB
    assert peak["self_plus_children"] == pytest.approx(peak["self"] + peak["children"])
    assert peak["total"] >= max(peak["self"], peak["children"], peak["sampled"])
    import resource

    # this process's own peak, not its parent's at the fork (as ru_maxrss may count)
    assert peak["self"] <= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + 1


# A child that writes (so really holds) ~300 MB, then waits for a line on stdin.
_HOLD_300MB = (
    "import sys; block = bytearray(b'x') * (300 * 2**20); "
    "print('ready', flush=True); sys.stdin.readline()"
)


def _holding_child(code: str = _HOLD_300MB):
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _release(proc) -> None:
    proc.stdin.write("\n")
    proc.stdin.flush()
    proc.wait(timeout=30)


@needs_proc
def test_tree_rss_counts_a_live_child_at_the_same_moment() -> None:
    alone, own = notebook.tree_rss_mib()
    assert own == pytest.approx(notebook.rss_mib(os.getpid()), abs=20)
    proc = _holding_child()
    try:
        assert proc.pid in notebook.descendants(os.getpid())
        assert notebook.rss_mib(proc.pid) > 290
        total, own_now = notebook.tree_rss_mib()
        assert total - own_now > 290  # the child's 300 MB count towards the total
    finally:
        _release(proc)
    assert proc.pid not in notebook.descendants(os.getpid())
    assert notebook.rss_mib(proc.pid) == 0.0  # gone


@needs_proc
def test_grandchildren_count_too() -> None:
    # a shell between this process and the allocating Python (as with a launcher)
    import shlex
    import subprocess

    cmd = f"{shlex.quote(sys.executable)} -c {shlex.quote(_HOLD_300MB)}; true"
    proc = subprocess.Popen(
        ["/bin/sh", "-c", cmd], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        below = notebook.descendants(os.getpid())
        assert proc.pid in below and len(below) >= 2
        total, own = notebook.tree_rss_mib()
        assert total - own > 290
    finally:
        _release(proc)


@needs_proc
def test_sampler_keeps_the_peak_of_a_child_that_has_ended() -> None:
    sampler = notebook.RssSampler(interval=0.05).start()
    try:
        before = sampler.peak_mib
        proc = _holding_child()
        import time

        time.sleep(0.3)  # several samples while the child holds its memory
        _release(proc)
        after_exit, own = notebook.tree_rss_mib()
        assert after_exit < own + 50  # nothing left below this process
        assert sampler.peak_mib > own + 290  # ... but the sampled peak kept it
        assert sampler.peak_mib > before + 250
        assert sampler.samples >= 3
    finally:
        sampler.stop()
    assert not sampler._thread.is_alive()


@needs_proc
def test_peak_rss_total_uses_the_running_sampler(monkeypatch) -> None:
    sampler = notebook.RssSampler(interval=60)  # no thread: one sample at a time
    monkeypatch.setattr(notebook, "_SAMPLER", [sampler])
    monkeypatch.setattr(notebook, "CHILD_PEAKS_MIB", [])  # none from earlier tests
    proc = _holding_child()
    try:
        sampler.sample()
    finally:
        _release(proc)
    peak = notebook.peak_rss_mib()
    _, own_now = notebook.tree_rss_mib()
    # this process never held the child's memory, the sampled total did (compared
    # with its resident memory now, not its high-water mark, which earlier tests in
    # the same process may have raised above the sample)
    assert peak["sampled"] > own_now + 250
    assert peak["total"] == max(peak["sampled"], peak["self"])
    assert peak["children"] == 0.0


def test_no_sampler_thread_outside_a_book_build(monkeypatch) -> None:
    import threading

    monkeypatch.setattr(notebook, "_SAMPLER", [])
    monkeypatch.setattr(notebook, "_HOOKED", [])
    monkeypatch.delenv(notebook.PEAK_RSS_ENV, raising=False)
    assert notebook.track_peak_rss() is False
    monkeypatch.setenv(notebook.PEAK_RSS_ENV, "/nonexistent/peak_rss.json")
    assert notebook.track_peak_rss() is False  # not in an IPython kernel
    names = [t.name for t in threading.enumerate()]
    assert "fluoseg-rss-sampler" not in names and notebook._SAMPLER == []


def test_parent_ids_survive_odd_process_names(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    for pid, comm, ppid in [(1, "init", 0), (7, "a) (b 9", 1), (9, "x", 7)]:
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "stat").write_text(f"{pid} ({comm}) S {ppid} 1 1 0")
    (proc / "self").mkdir()
    (proc / "12").mkdir()  # ended before its stat could be read
    assert notebook._ppid_map(proc) == {1: 0, 7: 1, 9: 7}


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
    entry = table["book/01_theory/metrics"]
    assert entry["total"] >= entry["self"] > 10
    assert {"sampled", "children", "self_plus_children", "sample_seconds"} <= set(entry)


def test_chapter_resources_reads_the_build(tmp_path: Path) -> None:
    build = tmp_path / "_build"
    assert notebook.chapter_resources(build).empty
    build.mkdir()
    new = {"total": 1900.0, "self": 1100.0, "children": 1500.0}
    old = {"peak": 2500.0, "self": 900.0, "children": 1600.0}  # before `total`
    (build / "peak_rss.json").write_text(json.dumps({"book/a": new, "book/b": old}))
    table = notebook.chapter_resources(build)
    assert list(table.index) == ["book/a", "book/b"]
    assert table.loc["book/a", "peak_rss_mib"] == 1900.0
    assert table.loc["book/a", "kernel_mib"] == 1100.0
    assert table.loc["book/a", "child_mib"] == 1500.0
    # an old record's sum of maxima is not passed off as a simultaneous peak
    assert np.isnan(table.loc["book/b", "peak_rss_mib"])
    assert table.loc["book/b", "child_mib"] == 1600.0
    assert list(table.columns) == ["seconds", "peak_rss_mib", "kernel_mib", "child_mib"]


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
    import fluoseg.training.isolate as T

    monkeypatch.delenv(T.TRAIN_SUBPROCESS_ENV, raising=False)
    assert T.should_isolate(True) and not T.should_isolate(False)
    assert not T.in_jupyter_kernel() and not T.should_isolate(None)  # pytest
    monkeypatch.setattr(T, "in_jupyter_kernel", lambda: True)
    assert T.should_isolate(None)  # inside a Jupyter kernel
    monkeypatch.setenv(T.TRAIN_SUBPROCESS_ENV, "0")
    assert not T.should_isolate(None)
    monkeypatch.setattr(T, "in_jupyter_kernel", lambda: False)
    monkeypatch.setenv(T.TRAIN_SUBPROCESS_ENV, "1")
    assert T.should_isolate(None)


@pytest.mark.slow
def test_ensure_result_in_a_child_process(tmp_path: Path, monkeypatch) -> None:
    """The child trains and scores; this process only reads the saved result."""
    from fluoseg import experiments as exp

    monkeypatch.setenv("FLUOSEG_RUNS", str(tmp_path))
    monkeypatch.setenv("FLUOSEG_DATA", str(ROOT / "data"))

    def not_here(*a, **k):
        raise AssertionError("computed in this process")

    monkeypatch.setattr(exp, "run_experiment", not_here)
    before = len(notebook.CHILD_PEAKS_MIB)
    res = exp.ensure_result("unet-2class", "smoke", progress=False, isolate=True)
    assert res.name == "unet-2class" and res.profile == "smoke"
    assert (tmp_path / "smoke" / "results" / "unet-2class.json").is_file()
    # one child trained, another (which holds none of the training's memory) scored
    assert len(notebook.CHILD_PEAKS_MIB) == before + 2
    again = len(notebook.CHILD_PEAKS_MIB)
    (tmp_path / "smoke" / "results" / "unet-2class.json").unlink()
    exp.ensure_result("unet-2class", "smoke", progress=False, isolate=True)
    assert len(notebook.CHILD_PEAKS_MIB) == again + 1  # the finished run: scored only


@pytest.mark.slow
def test_isolated_training_happens_in_a_child_process(
    tmp_path: Path, monkeypatch
) -> None:
    import fluoseg.training.trainer as T

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
    peak = notebook.peak_rss_mib()
    assert peak["total"] >= peak["children"] >= notebook.CHILD_PEAKS_MIB[-1]
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
    from fluoseg import experiments as exp

    monkeypatch.setenv("FLUOSEG_RUNS", str(tmp_path))
    monkeypatch.setenv("FLUOSEG_DATA", str(ROOT / "data"))
    monkeypatch.setattr(exp, "evaluate_run", None)  # never called here
    before = len(notebook.CHILD_PEAKS_MIB)
    ev = exp.run_experiment("unet-2class", "smoke", progress=False, isolate=True)
    assert len(notebook.CHILD_PEAKS_MIB) == before + 2  # trained, then scored
    assert set(ev.predictions) == set(ev.seconds) == {"I1", "I2"}
    assert ev.predictions["I1"].dtype.name == "uint8"
    assert ev.run.finished and ev.run.path.parent == tmp_path / "smoke"
    assert list(ev.average.index) == list(ev.result.metrics.index)
