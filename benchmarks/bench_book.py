"""Book: how long the executable book takes to build, per notebook and in total.

Two sources, recorded as ``method`` in the JSON:

- ``cache`` (default, instant): the execution times that jupyter-cache stored for every
  notebook of the last ``jupyter-book build`` of this checkout
  (``_build/.jupyter_cache``, record field ``execution_seconds``). The cache does not
  know which profile the build used: the last ``make book`` (``PROFILE=cpu`` by
  default) or ``make test`` run decides.
- ``build`` (``--build smoke`` or ``--build cpu``): copies the checkout's tracked files
  (``git ls-files``) to a temporary folder, generates the profile's data there
  (``fluoseg data``), times a fresh ``jupyter-book build . -W --keep-going`` with
  ``FLUOSEG_PROFILE`` set, then reads that build's cache for per-notebook times. The
  ``cpu`` build takes about an hour on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def cache_times(build_dir: Path) -> dict:
    """Per-notebook execution seconds from ``<build_dir>/.jupyter_cache``."""
    cache_dir = build_dir / ".jupyter_cache"
    if not (cache_dir / "global.db").is_file():
        return {"method": "cache", "available": False, "cache": str(cache_dir)}
    from jupyter_cache import get_cache

    cache = get_cache(str(cache_dir))
    notebooks = {}
    for rec in cache.list_cache_records():
        uri = Path(rec.uri)
        try:
            uri = uri.relative_to(build_dir.parent)
        except ValueError:
            pass
        notebooks[str(uri)] = {
            "execution_seconds": (rec.data or {}).get("execution_seconds"),
            "executed_at": str(rec.created),
        }
    total = sum(v["execution_seconds"] or 0.0 for v in notebooks.values())
    return {
        "method": "cache",
        "available": True,
        "cache": str(cache_dir),
        "notebooks": notebooks,
        "total_execution_seconds": total,
    }


def timed_build(profile: str, keep: bool = False) -> dict:
    """Build the book at ``profile`` in a temporary copy of the checkout; time it."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    tmp = Path(tempfile.mkdtemp(prefix="fluoseg-book-"))
    try:
        for rel in files:
            src = ROOT / rel
            if src.is_file():
                dst = tmp / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
        env = {**os.environ, "FLUOSEG_PROFILE": profile}
        env.pop("FLUOSEG_DATA", None)
        env.pop("FLUOSEG_RUNS", None)
        t0 = time.perf_counter()
        data = subprocess.run(
            [str(BIN / "fluoseg"), "data", "--profile", profile],
            cwd=tmp, env=env, capture_output=True, text=True,
        )
        data_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        build = subprocess.run(
            [str(BIN / "jupyter-book"), "build", ".", "-W", "--keep-going"],
            cwd=tmp, env=env, capture_output=True, text=True,
        )
        build_s = time.perf_counter() - t0
        out = cache_times(tmp / "_build")
        out.update(
            method="build",
            profile=profile,
            data_seconds=data_s,
            data_returncode=data.returncode,
            build_seconds=build_s,
            build_returncode=build.returncode,
            build_tail=build.stdout.strip().splitlines()[-3:],
        )
        return out
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def run_all(builds: tuple[str, ...] = ()) -> dict:
    """The cache's times, plus a timed build per profile in ``builds``."""
    out: dict = {"cache": cache_times(ROOT / "_build")}
    for p in builds:
        print(f"book: building at profile {p} ...", file=sys.stderr)
        out[f"build_{p}"] = timed_build(p)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", action="append", default=[], choices=("smoke", "cpu"))
    a = p.parse_args(argv)
    print(json.dumps(run_all(tuple(a.build)), indent=2))


if __name__ == "__main__":
    main()
