"""Peer: our sliding-window U-Net against the same network in PyTorch + MONAI.

Both sides run in one process, timed alternately (ours, MONAI, ours, MONAI, ...) so that
a change in the machine's load hits both alike; the result is the ratio of the median
times, ``ours / monai`` (goal <= 1.0).

- Ours: the profile's U-Net (``fluoseg.models``), ``fluoseg.inference.predict_volume``
  with Gaussian blending, the profile's window, overlap and batch, called through
  ``model.predict_on_batch`` as ``fluoseg.run.Run.predict`` does.
- MONAI: a PyTorch module with exactly the same layers (Conv3d k3 'same' + BatchNorm +
  ReLU per block, MaxPool3d, ConvTranspose3d k2 s2, skip concatenation, 1x1x1 sigmoid
  head), **with our network's weights copied in**, and
  ``monai.inferers.sliding_window_inference`` (``mode="gaussian"``,
  ``sigma_scale=0.125``, same ``overlap`` and ``sw_batch_size``), in ``torch.no_grad``.
  The largest absolute difference of the two probability maps is reported as a check
  that both sides compute the same thing.

torch and monai are benchmark-only (the ``bench`` extra); without them the case reports
``skipped``. PyTorch gets as many threads as TensorFlow's intra-op pool.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CROP_SHAPE, emit, run_case, synthetic_image  # noqa: E402


def torch_unet(keras_model, cfg):  # noqa: ANN001, ANN201 - torch types are optional
    """A PyTorch twin of ``build_unet3d(cfg)`` carrying ``keras_model``'s weights."""
    import numpy as np
    import torch
    from torch import nn

    layers = {lay.name: lay for lay in keras_model.layers}

    def conv(name: str) -> nn.Module:
        c = layers[f"{name}_conv"]
        k, *b = (np.asarray(w) for w in c.get_weights())
        m = nn.Conv3d(
            k.shape[3], k.shape[4], k.shape[0], padding=k.shape[0] // 2, bias=bool(b)
        )
        m.weight.data = torch.from_numpy(k.transpose(4, 3, 0, 1, 2).copy())
        if b:
            m.bias.data = torch.from_numpy(b[0].copy())
        bn_k = layers[f"{name}_norm"]
        gamma, beta, mean, var = (np.asarray(w) for w in bn_k.get_weights())
        bn = nn.BatchNorm3d(k.shape[4], eps=bn_k.epsilon)
        bn.weight.data, bn.bias.data = torch.from_numpy(gamma), torch.from_numpy(beta)
        bn.running_mean.data, bn.running_var.data = (
            torch.from_numpy(mean),
            torch.from_numpy(var),
        )
        return nn.Sequential(m, bn, nn.ReLU())

    def up(name: str) -> nn.Module:
        k, b = (np.asarray(w) for w in layers[name].get_weights())
        m = nn.ConvTranspose3d(k.shape[4], k.shape[3], k.shape[0], stride=2)
        m.weight.data = torch.from_numpy(k.transpose(4, 3, 0, 1, 2).copy())
        m.bias.data = torch.from_numpy(b.copy())
        return m

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            n = cfg.convs_per_level
            self.enc = nn.ModuleList(
                nn.Sequential(*[conv(f"enc{lv}_{i}") for i in range(n)])
                for lv in range(cfg.depth)
            )
            self.up = nn.ModuleList(up(f"up{lv}") for lv in range(cfg.depth - 1))
            self.dec = nn.ModuleList(
                nn.Sequential(*[conv(f"dec{lv}_{i}") for i in range(n)])
                for lv in range(cfg.depth - 1)
            )
            k, b = (np.asarray(w) for w in layers["probabilities"].get_weights())
            self.head = nn.Conv3d(k.shape[3], k.shape[4], 1)
            self.head.weight.data = torch.from_numpy(k.transpose(4, 3, 0, 1, 2).copy())
            self.head.bias.data = torch.from_numpy(b.copy())
            self.pool = nn.MaxPool3d(2)

        def forward(self, x):  # noqa: ANN001, ANN202
            skips = []
            for lv, block in enumerate(self.enc):
                x = block(x)
                if lv < len(self.enc) - 1:
                    skips.append(x)
                    x = self.pool(x)
            for lv in reversed(range(len(self.up))):
                x = torch.cat([self.up[lv](x), skips[lv]], dim=1)
                x = self.dec[lv](x)
            return torch.sigmoid(self.head(x))

    return Net().eval()


def run_one(case: str, quick: bool, repeats: int = 3) -> dict:
    """Alternate ours and MONAI's sliding-window U-Net ``repeats`` times (case = the
    profile name)."""
    import numpy as np

    try:
        import torch
        from monai.inferers import sliding_window_inference
    except ImportError as exc:
        return {"case": case, "skipped": f"torch/monai not installed ({exc})"}
    import tensorflow as tf
    from netutil import build

    from fluoseg.config import get_profile
    from fluoseg.inference import predict_volume
    from fluoseg.models import model_config

    profile = case
    prof = get_profile(profile)
    win = tuple(prof.inference_patch_shape)
    cfg = model_config("unet", profile, 2)
    _, seg = build("unet", profile)
    threads = tf.config.threading.get_intra_op_parallelism_threads() or len(
        os.sched_getaffinity(0)
    )
    torch.set_num_threads(threads)
    net = torch_unet(seg, cfg)
    if quick:
        shape = (win[0] + 8, win[1] * 2, win[2] * 2)
        repeats = 2
    else:
        shape = CROP_SHAPE
    vol = synthetic_image(shape)
    x_t = torch.from_numpy(np.ascontiguousarray(vol.transpose(3, 0, 1, 2)[None]))
    kw = dict(overlap=prof.inference_overlap, batch_size=prof.inference_batch)

    def ours() -> np.ndarray:
        return predict_volume(seg.predict_on_batch, vol, win, **kw)

    def monai() -> np.ndarray:
        with torch.no_grad():
            y = sliding_window_inference(
                x_t,
                win,
                prof.inference_batch,
                net,
                overlap=prof.inference_overlap,
                mode="gaussian",
                sigma_scale=0.125,
            )
        return y[0].numpy().transpose(1, 2, 3, 0)

    batch = np.zeros((prof.inference_batch, *win, 2), np.float32)
    seg.predict_on_batch(batch)  # warm up both
    with torch.no_grad():
        net(torch.zeros(prof.inference_batch, 2, *win))
    t_ours, t_monai = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a = ours()
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = monai()
        t_monai.append(time.perf_counter() - t0)
    m_ours, m_monai = float(np.median(t_ours)), float(np.median(t_monai))
    return {
        "case": case,
        "profile": profile,
        "shape_zyx": list(shape),
        "window": list(win),
        "overlap": prof.inference_overlap,
        "batch": prof.inference_batch,
        "threads": threads,
        "ours_seconds": t_ours,
        "monai_seconds": t_monai,
        "ours_median": m_ours,
        "monai_median": m_monai,
        "ratio_ours_over_monai": m_ours / m_monai,
        "max_abs_difference": float(np.max(np.abs(a - b))),
        "torch": torch.__version__,
        "monai": __import__("monai").__version__,
    }


def run_all(quick: bool, profiles: tuple[str, ...] = ("cpu",)) -> dict:
    """The peer comparison per profile, each in its own process."""
    out = {}
    for p in profiles:
        out[p] = run_case("bench_peer.py", p, ["--quick"] if quick else [])
        ratio = out[p].get("ratio_ours_over_monai", out[p])
        print(f"peer {p}: {ratio}", file=sys.stderr)
    return {"cases": out, "goal_ratio": 1.0}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", help="profile name (cpu or paper)")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    if a.case:
        emit(run_one(a.case, a.quick))
    else:
        print(json.dumps(run_all(a.quick), indent=2))


if __name__ == "__main__":
    main()
