#!/usr/bin/python3
"""Truncated BPTT of the GLE step in PyTorch autograd: the peer of `vlec run --errors bptt`
(bench/bptt.sh, bench/README.md "BPTT").

The same network and streams as the other baselines (gle_common.bench_spec). The forward pass
is the sync step with e = 0 (docs/theory.md §6 item 6): every population reads the rates
published at the step before, u' = (W r_pub + b - u) / tau_m, u_hat = u + tau_r u', publish
phi(u_hat); the objective sums dt * beta * 0.5 |y(t_k) - r_out,pub|^2 (batch mean) over a
window of W steps; autograd differentiates it, and SGD takes one step per window. One thread,
like every baseline. Prints one line: steps/s.

    /usr/bin/python3 bench/py/gle_torch_bptt.py --sizes 784-300-100-10 --batch 100 --window 100
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import torch  # noqa: E402

import gle_common  # noqa: E402

torch.set_num_threads(1)


def run(spec, B, window, windows, f32):
    dt, L = spec.dt, len(spec.sizes)
    dtype, npd = (torch.float32, np.float32) if f32 else (torch.float64, np.float64)
    T = lambda a: torch.tensor(np.array(a, dtype=npd))  # noqa: E731
    W = [None] + [T(spec.W[p]).requires_grad_() for p in range(1, L)]
    b = [None] + [T(spec.b[p]).requires_grad_() for p in range(1, L)]
    tm = [None] + [T(spec.tau_m[p]) for p in range(1, L)]
    tr = [None] + [T(spec.tau_r[p]) for p in range(1, L)]
    u = [None] + [torch.zeros((B, spec.sizes[p]), dtype=dtype) for p in range(1, L)]
    r = [None] + [torch.zeros((B, spec.sizes[p]), dtype=dtype) for p in range(1, L)]
    phi = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda v: v}
    xs = [T(spec.input_fn(k * dt)) for k in range(window * windows)]
    ys = [T(spec.target_fn(k * dt)) for k in range(window * windows)]
    t0 = time.perf_counter()
    for w in range(windows):
        J = 0
        for j in range(window):
            k = w * window + j
            J = J + dt * spec.beta * 0.5 * ((ys[k] - r[L - 1]) ** 2).sum(1).mean()
            x = xs[k].expand(B, -1)
            nr = [None] * L
            for p in range(1, L):
                pre = x if p == 1 else r[p - 1]
                drive = torch.addmm(b[p], pre, W[p].t())
                ud = (drive - u[p]) / tm[p]
                nr[p] = phi[spec.phis[p]](u[p] + tr[p] * ud)
                u[p] = u[p] + dt * ud
            r = nr
        J.backward()
        with torch.no_grad():
            for p in range(1, L):
                W[p] -= spec.eta * W[p].grad
                b[p] -= spec.eta * b[p].grad
                W[p].grad = None
                b[p].grad = None
        u = [None] + [v.detach() for v in u[1:]]
        r = [None] + [v.detach() for v in r[1:]]
    return window * windows / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100-100-10")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--f32", action="store_true")
    a = ap.parse_args()
    spec = gle_common.bench_spec([int(n) for n in a.sizes.split("-")])
    run(spec, a.batch, a.window, 1, a.f32)          # warm-up
    print("%.1f" % run(spec, a.batch, a.window, a.windows, a.f32))


if __name__ == "__main__":
    main()
