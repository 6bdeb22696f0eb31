#!/usr/bin/python3
"""The GLE training step in NumPy (what a researcher writes): bench/README.md.

Same network, init, inputs and checksum as bench/c/gle_fused.c; batch-major arrays [B, n].
Step (docs/theory.md §6): all errors from the values published at step k-1, then per weight
matrix (top-down) the forward drive, the back-projection W^T e and the SGD update, then the
population's dynamics and the publication of its rate.
Run with Debian's python: /usr/bin/python3 bench/py/gle_numpy.py --sizes 100-100-10
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import gle_common  # noqa: E402

PHI = {
    "tanh": (np.tanh, lambda r: 1.0 - r * r),
    "sigmoid": (lambda x: 1.0 / (1.0 + np.exp(-x)), lambda r: r * (1.0 - r)),
    "linear": (lambda x: x, lambda r: np.ones_like(r)),
}


class Net:
    def __init__(self, spec, B, f32):
        dt = np.float32 if f32 else np.float64
        self.s, self.B, self.dtype = spec, B, dt
        L = len(spec.sizes)
        self.L = L
        z = lambda p: np.zeros((B, spec.sizes[p]), dtype=dt)  # noqa: E731
        self.u = [None] + [z(p) for p in range(1, L)]
        self.v = [None] + [z(p) for p in range(1, L)]
        self.r = [None] + [z(p) for p in range(1, L)]     # published rate (zero before step 0)
        self.dphi = [None] + [z(p) for p in range(1, L)]  # published phi' (zero before step 0)
        self.bp = [None] + [z(p) for p in range(1, L)]    # published W_{p+1}^T e_{p+1}
        self.e = [None] * L
        self.W = [None] + [spec.W[p].astype(dt) for p in range(1, L)]  # copies: training mutates
        self.b = [None] + [spec.b[p].astype(dt) for p in range(1, L)]
        self.tm = [None] + [spec.tau_m[p].astype(dt) for p in range(1, L)]
        self.tr = [None] + [spec.tau_r[p].astype(dt) for p in range(1, L)]
        self.c = dt(spec.eta / B)
        self.k_dt, self.k_gamma, self.k_beta = dt(spec.dt), dt(spec.gamma), dt(spec.beta)

    def output(self):
        return self.r[self.L - 1][0]

    def step(self, k):
        s, L, dt = self.s, self.L, self.k_dt
        t = k * s.dt
        # a contiguous copy: matmul on a stride-0 broadcast view bypasses BLAS
        x = np.ascontiguousarray(np.broadcast_to(s.input_fn(t).astype(self.dtype), (self.B, s.sizes[0])))
        y = s.target_fn(t).astype(self.dtype)
        # errors of every population from published values
        for p in range(1, L):
            if p == L - 1:
                g = self.k_beta * self.dphi[p] * (y - self.r[p])
            else:
                g = self.dphi[p] * self.bp[p]
            vd = (g - self.v[p]) / self.tr[p]
            self.e[p] = self.v[p] + self.tm[p] * vd
            self.v[p] += dt * vd
        # top-down: W_p's sweep reads r_{p-1} (published at k-1) before p-1 publishes anew
        for p in range(L - 1, 0, -1):
            pre = x if p == 1 else self.r[p - 1]
            W, e = self.W[p], self.e[p]
            drive = pre @ W.T + self.b[p]
            if p > 1:
                self.bp[p - 1] = e @ W
            W += self.c * (e.T @ pre)
            self.b[p] += self.c * e.sum(axis=0)
            ud = (self.k_gamma * e - (self.u[p] - drive)) / self.tm[p]
            ub = self.u[p] + self.tr[p] * ud
            self.u[p] += dt * ud
            f, df = PHI[s.phis[p]]
            self.r[p] = f(ub)
            self.dphi[p] = df(self.r[p])

    def checksum_parts(self):
        states = [(self.u[p], self.v[p], self.r[p]) for p in range(1, self.L)]
        params = []
        for p in range(1, self.L):
            params += [self.W[p], self.b[p]]
        return states, params


if __name__ == "__main__":
    sys.exit(gle_common.main("numpy", Net))
