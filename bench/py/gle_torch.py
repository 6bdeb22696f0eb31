#!/usr/bin/python3
"""The GLE training step in PyTorch eager mode on the CPU: bench/README.md.

Same network, init (drawn by gle_common in NumPy, then converted), inputs and checksum as
bench/c/gle_fused.c. Written the way one would write it by hand for speed in eager mode (fused
addmm/addmm_ calls, in-place updates), not through autograd: GLE's learning rule is local, so
autograd would only add cost. One thread (torch.set_num_threads(1)), like every baseline.
Run with Debian's python: /usr/bin/python3 bench/py/gle_torch.py --sizes 100-100-10
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import torch  # noqa: E402

import gle_common  # noqa: E402

# GLE_TORCH_THREADS: bench/threads.sh's threaded peer column (default 1, as every baseline)
torch.set_num_threads(int(os.environ.get("GLE_TORCH_THREADS", "1")))
torch.set_grad_enabled(False)


class Net:
    def __init__(self, spec, B, f32):
        self.dtype = torch.float32 if f32 else torch.float64
        self.np_dtype = np.float32 if f32 else np.float64
        self.s, self.B = spec, B
        L = len(spec.sizes)
        self.L = L
        T = lambda a: torch.from_numpy(np.array(a, dtype=self.np_dtype))  # noqa: E731  (a copy)
        z = lambda p: torch.zeros((B, spec.sizes[p]), dtype=self.dtype)  # noqa: E731
        self.u = [None] + [z(p) for p in range(1, L)]
        self.v = [None] + [z(p) for p in range(1, L)]
        self.r = [None] + [z(p) for p in range(1, L)]     # published rate (zero before step 0)
        self.dphi = [None] + [z(p) for p in range(1, L)]  # published phi' (zero before step 0)
        self.bp = [None] + [z(p) for p in range(1, L)]    # published W_{p+1}^T e_{p+1}
        self.e = [None] * L
        self.W = [None] + [T(spec.W[p]) for p in range(1, L)]
        self.b = [None] + [T(spec.b[p]) for p in range(1, L)]
        self.tm = [None] + [T(spec.tau_m[p]) for p in range(1, L)]
        self.tr = [None] + [T(spec.tau_r[p]) for p in range(1, L)]
        self.c = spec.eta / B
        self.x = torch.zeros((B, spec.sizes[0]), dtype=self.dtype)

    def output(self):
        return self.r[self.L - 1][0].numpy()

    def step(self, k):
        s, L, dt = self.s, self.L, self.s.dt
        t = k * s.dt
        # inputs evaluated in float64 (like the C baselines), then rounded
        self.x.copy_(torch.from_numpy(s.input_fn(t).astype(self.np_dtype)).expand_as(self.x))
        y = torch.from_numpy(s.target_fn(t).astype(self.np_dtype))
        x = self.x
        for p in range(1, L):
            if p == L - 1:
                g = s.beta * self.dphi[p] * (y - self.r[p])
            else:
                g = self.dphi[p] * self.bp[p]
            vd = (g - self.v[p]) / self.tr[p]
            self.e[p] = self.v[p] + self.tm[p] * vd
            self.v[p].add_(vd, alpha=dt)
        for p in range(L - 1, 0, -1):
            pre = x if p == 1 else self.r[p - 1]
            W, e = self.W[p], self.e[p]
            drive = torch.addmm(self.b[p], pre, W.t())
            if p > 1:
                self.bp[p - 1] = e @ W
            W.addmm_(e.t(), pre, alpha=self.c)
            self.b[p].add_(e.sum(dim=0), alpha=self.c)
            ud = (s.gamma * e - (self.u[p] - drive)) / self.tm[p]
            ub = self.u[p] + self.tr[p] * ud
            self.u[p].add_(ud, alpha=dt)
            phi = s.phis[p]
            if phi == "tanh":
                r = torch.tanh(ub)
                self.dphi[p] = 1.0 - r * r
            elif phi == "sigmoid":
                r = torch.sigmoid(ub)
                self.dphi[p] = r * (1.0 - r)
            else:
                r = ub
                self.dphi[p] = torch.ones_like(r)
            self.r[p] = r

    def checksum_parts(self):
        states = [(self.u[p].numpy(), self.v[p].numpy(), self.r[p].numpy()) for p in range(1, self.L)]
        params = []
        for p in range(1, self.L):
            params += [self.W[p].numpy(), self.b[p].numpy()]
        return states, params


if __name__ == "__main__":
    sys.exit(gle_common.main("torch", Net))
