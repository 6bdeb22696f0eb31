"""What the Python baselines share: the benchmark network (the same as bench/c/gle_common.h and
the generated .vle models: keep them in step), the golden case, the timing protocol and the
checksum. Runs with Debian's /usr/bin/python3 and python3-numpy.

The step itself (docs/theory.md §6, sync Euler, prospective errors) is in gle_numpy.py and
gle_torch.py; this module only produces the initial state and judges the result.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

BENCH_DT = 0.05
BENCH_GAMMA = 0.1
BENCH_BETA = 1.0
BENCH_ETA = 1e-4
BENCH_SEED = 20240917

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "gle_p1")


def u01(seed, k0, count):
    """splitmix64 as a counter-based generator, the same numbers as u01_at() in gle_common.h."""
    with np.errstate(over="ignore"):
        k = np.arange(k0, k0 + count, dtype=np.uint64)
        z = np.uint64(seed) + (k + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


class Spec:
    """A layered GLE network: sizes[0] is the input; populations 1..L-1 with phis[p] in
    {'tanh', 'sigmoid', 'linear'}; tau_m[p], tau_r[p] float64 vectors; W[p] (n_p x n_{p-1}),
    b[p] float64; input_fn(t), target_fn(t) -> float64 vectors."""

    def __init__(self, sizes, phis, tau_m, tau_r, W, b, dt, gamma, beta, eta, input_fn, target_fn,
                 x_sin, y_sin):
        self.sizes, self.phis, self.tau_m, self.tau_r = sizes, phis, tau_m, tau_r
        self.W, self.b = W, b
        self.dt, self.gamma, self.beta, self.eta = dt, gamma, beta, eta
        self.input_fn, self.target_fn = input_fn, target_fn
        # the same streams as (amplitude, frequency, phase) vectors of a * sin(w t + p), for
        # implementations that need them as equations (Brian2)
        self.x_sin, self.y_sin = x_sin, y_sin


def bench_spec(sizes):
    """The benchmark network of gle_common.h: tanh hidden, linear output,
    tau_m = linspace(0.5, 1.5, n), tau_r = linspace(0.1, 0.5, n), weights and biases
    uniform(-1/sqrt(n_pre), 1/sqrt(n_pre)) from one splitmix64 stream (W1, b1, W2, b2, ...),
    x_i(t) = sin(wx_i t + px_i), y_j(t) = 0.5 sin(wy_j t + py_j)."""
    L = len(sizes)
    phis, tau_m, tau_r, W, b = [None], [None], [None], [None], [None]
    k = 0
    for p in range(1, L):
        n, m = sizes[p], sizes[p - 1]
        phis.append("linear" if p == L - 1 else "tanh")
        tau_m.append(np.linspace(0.5, 1.5, n))
        tau_r.append(np.linspace(0.1, 0.5, n))
        a = 1.0 / math.sqrt(m)
        W.append(a * (2.0 * u01(BENCH_SEED, k, n * m) - 1.0).reshape(n, m))
        k += n * m
        b.append(a * (2.0 * u01(BENCH_SEED, k, n) - 1.0))
        k += n
    nx, ny = sizes[0], sizes[-1]
    wx, px = np.linspace(0.5, 2.0, nx), np.linspace(0.0, 3.0, nx)
    wy, py = np.linspace(0.3, 1.1, ny), np.linspace(1.0, 2.0, ny)
    return Spec(sizes, phis, tau_m, tau_r, W, b, BENCH_DT, BENCH_GAMMA, BENCH_BETA, BENCH_ETA,
                lambda t: np.sin(wx * t + px), lambda t: 0.5 * np.sin(wy * t + py),
                (np.ones(nx), wx, px), (np.full(ny, 0.5), wy, py))


def golden_spec(d):
    """model.vle of tests/data/gle_p1 (see bench/c/gle_golden.h)."""
    W = [None, np.load(os.path.join(d, "W1.npy")), np.load(os.path.join(d, "W2.npy"))]
    b = [None, np.load(os.path.join(d, "b1.npy")), np.load(os.path.join(d, "b2.npy"))]
    return Spec([3, 4, 2], [None, "sigmoid", "linear"],
                [None, np.array([0.3, 0.6, 0.9, 1.2]), np.array([0.5, 0.5])],
                [None, np.array([0.3, 0.1, 0.9, 0.05]), np.array([0.5, 0.5])],
                W, b, 0.02, 0.1, 1.0, 0.05,
                lambda t: np.array([math.sin(2.0 * t), math.cos(0.5 * t), 0.3]),
                lambda t: np.array([0.4 * math.sin(2.0 * t - 0.3), 0.2 * math.cos(0.9 * t)]),
                # cos(a) = sin(a + pi/2), 0.3 = sin(asin 0.3): equal to within an ulp
                (np.ones(3), np.array([2.0, 0.5, 0.0]), np.array([0.0, math.pi / 2, math.asin(0.3)])),
                (np.array([0.4, 0.2]), np.array([2.0, 0.9]), np.array([-0.3, math.pi / 2])))


def parse_args(impl):
    ap = argparse.ArgumentParser(description=f"{impl} GLE training step (bench/README.md)")
    ap.add_argument("--sizes", help="e.g. 784-300-100-10 (input first)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--f32", action="store_true", help="float32 instead of float64")
    ap.add_argument("--golden", nargs="?", const=GOLDEN_DIR, default=None, metavar="DIR")
    a = ap.parse_args()
    if a.golden is None and not a.sizes:
        ap.error("--sizes or --golden is required")
    return a


def checksum(states, params):
    """states: list of (u, v, r) float arrays; params: list of W, b. Same as net_checksum()."""
    s = sa = ps = pa = 0.0
    for arrs in states:
        for x in arrs:
            x = np.asarray(x, dtype=np.float64)
            s += float(x.sum())
            sa += float(np.abs(x).sum())
    for x in params:
        x = np.asarray(x, dtype=np.float64)
        ps += float(x.sum())
        pa += float(np.abs(x).sum())
    return s + ps, sa + pa, ps, pa


def bench_main(impl, make_net, args):
    """make_net(spec, batch, f32) -> object with .step(k), .checksum_parts() -> (states, params).
    Timing protocol of gle_common.h: every repetition starts from the initial state; the first
    is a warm-up; best of >= reps repetitions and >= min_time seconds (at most 50)."""
    sizes = [int(s) for s in args.sizes.replace("x", "-").split("-")]
    spec = bench_spec(sizes)
    best, spent, rep = float("inf"), 0.0, 0
    net = None
    while True:
        # a fresh network per repetition, or reset() where building one is costly (Brian2)
        if net is not None and hasattr(net, "reset"):
            net.reset()
        else:
            net = make_net(spec, args.batch, args.f32)
        t0 = time.perf_counter()
        if hasattr(net, "run"):   # runs all steps in one call (Brian2)
            net.run(args.steps)
        else:
            for k in range(args.steps):
                net.step(k)
        el = time.perf_counter() - t0
        if rep > 0:
            spent += el
            best = min(best, el)
            if (rep >= args.reps and spent >= args.min_time) or rep >= 50:
                break
        rep += 1
    s, sa, ps, pa = checksum(*net.checksum_parts())
    print(f"impl={impl} prec={'f32' if args.f32 else 'f64'} sizes={args.sizes} batch={args.batch} "
          f"steps={args.steps} steps_per_s={args.steps / best:.6g} checksum={s:.17g} abssum={sa:.17g} "
          f"param_sum={ps:.17g} param_abssum={pa:.17g}")
    return 0 if math.isfinite(s) else 1


def golden_main(impl, make_net, args):
    """Reproduce expected.json of the gle_p1 reference; exit status 1 on a mismatch."""
    d = args.golden
    with open(os.path.join(d, "expected.json")) as f:
        exp = json.load(f)
    S, tol = int(exp["steps"]), float(exp["tolerance"])
    if args.f32:
        tol = 1e-4
    spec = golden_spec(d)
    net = make_net(spec, 1, args.f32)
    out, rate, loss = [], [], []
    for k in range(S):
        o = np.asarray(net.output(), dtype=np.float64).reshape(-1)
        y = spec.target_fn(k * spec.dt)
        out.append(o)
        loss.append(0.5 * float(((y - o) ** 2).sum()))
        net.step(k)
        rate.append(np.asarray(net.output(), dtype=np.float64).reshape(-1))
    _, params = net.checksum_parts()
    got = {"output": np.array(out), "o_rate": np.array(rate), "loss": np.array(loss),
           "W1": params[0], "b1": params[1], "W2": params[2], "b2": params[3]}
    bad, worst = 0, 0.0
    for key, g in got.items():
        g = np.asarray(g, dtype=np.float64)
        e = np.asarray(exp[key], dtype=np.float64)
        dif = np.abs(g.reshape(e.shape) - e)
        worst = max(worst, float(dif.max()))
        nb = int((~(dif <= tol)).sum())
        if nb:
            print(f"golden: {key}: {nb} values off, max |diff| {dif.max():.3g}", file=sys.stderr)
        bad += nb
    print(f"golden {impl} ({'f32' if args.f32 else 'f64'}): {S} steps, {bad} mismatches, "
          f"max |diff| {worst:.3g} (tolerance {tol:.3g}): {'FAIL' if bad else 'PASS'}")
    return 1 if bad else 0


def main(impl, make_net):
    args = parse_args(impl)
    if args.golden is not None:
        return golden_main(impl, make_net, args)
    return bench_main(impl, make_net, args)
