"""Run every benchmark and write one JSON: ``benchmarks/results/<time>.json`` and
``benchmarks/results/latest.json`` (what the Performance chapter reads).

Usage::

    python benchmarks/run_all.py            # full: thesis-sized crops, all models
    python benchmarks/run_all.py --quick    # minutes: one batch of windows per case
    python benchmarks/run_all.py --only peak inference
    python benchmarks/run_all.py --book-build smoke   # also time a fresh book build

Order: peak first (always at full size, also with ``--quick``), then inference,
training, peer (needs torch and monai: ``pip install -e ".[bench]"``), memory, book,
and the peak again; every fraction is of the better of the two peaks measured in this
run (``peak_used``). Each case runs in its own process. Numbers taken while other work
shares the cores are low and noisy; the JSON records the load average at the start and
the end so a reader can tell.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_book  # noqa: E402
import bench_inference  # noqa: E402
import bench_memory  # noqa: E402
import bench_peak  # noqa: E402
import bench_peer  # noqa: E402
import bench_training  # noqa: E402
from common import RESULTS, environment, write_results  # noqa: E402

PARTS = ("peak", "inference", "training", "peer", "memory", "book")


def summary(res: dict) -> dict:
    """The headline ratios: fractions of peak, ours/MONAI, memory goals."""
    peak = res.get("peak_used") or res.get("peak", {}).get("peak_flops", 0.0)
    out: dict = {"peak_gflops": peak / 1e9}
    for part in ("inference", "training"):
        for case, r in res.get(part, {}).get("cases", {}).items():
            if "fraction_of_peak" in r:
                out[f"{part}/{case}/fraction_of_peak"] = r["fraction_of_peak"]
    for case, r in res.get("peer", {}).get("cases", {}).items():
        if "ratio_ours_over_monai" in r:
            out[f"peer/{case}/ours_over_monai"] = r["ratio_ours_over_monai"]
    vol = res.get("memory", {}).get("volume", {})
    if "peak_rss_mib" in vol:
        out["memory/volume/peak_rss_mib"] = vol["peak_rss_mib"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, minutes")
    p.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    p.add_argument(
        "--book-build", action="append", default=[], choices=("smoke", "cpu"),
        help="also time a fresh book build at this profile (cpu: about an hour)",
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)

    t0 = time.perf_counter()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    res: dict = {
        "timestamp": stamp,
        "quick": a.quick,
        "environment": environment(os.environ.get("FLUOSEG_PROFILE") or "cpu"),
    }
    peak = None

    def save() -> None:
        write_results("partial", res, a.out)

    if "peak" in a.only:
        # always full size (about 40 s): the quick sizes (1024^2, 32^3 x 16) reach
        # only 0.6-0.8 of it, which inflated quick fractions of peak above 1
        res["peak"] = bench_peak.run_all(False)
        peak = res["peak"]["peak_flops"]
        print(f"peak: {peak / 1e9:.1f} GFLOP/s", file=sys.stderr)
        save()
    if "inference" in a.only:
        res["inference"] = bench_inference.run_all(a.quick, peak)
        save()
    if "training" in a.only:
        res["training"] = bench_training.run_all(a.quick, peak)
        save()
    if "peer" in a.only:
        res["peer"] = bench_peer.run_all(a.quick)
        save()
    if "memory" in a.only:
        res["memory"] = bench_memory.run_all(a.quick, res.get("inference"))
        save()
    if "book" in a.only:
        res["book"] = bench_book.run_all(tuple(a.book_build))
    if "peak" in a.only and len(a.only) > 1:
        # the load may have changed during the run: measure the peak again and divide
        # by the better of the two, so a fraction is never inflated by a bad start
        res["peak_end"] = bench_peak.run_all(False)
        peak = max(peak or 0.0, res["peak_end"]["peak_flops"])
        res["peak_used"] = peak
        for part in ("inference", "training"):
            for r in res.get(part, {}).get("cases", {}).values():
                if r.get("achieved_flops"):
                    r["fraction_of_peak"] = r["achieved_flops"] / peak
    res["load_average_end"] = list(os.getloadavg())
    res["total_seconds"] = time.perf_counter() - t0
    res["summary"] = summary(res)
    path = write_results(stamp, res, a.out)
    write_results("latest", res, a.out)
    print(f"wrote {path} and {a.out / 'latest.json'}", file=sys.stderr)
    for k, v in res["summary"].items():
        print(f"  {k}: {v:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
