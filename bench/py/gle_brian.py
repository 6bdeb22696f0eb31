#!/usr/bin/python3
"""The GLE training step in Brian2 (Debian's python3-brian), batch 1 only: bench/README.md.

Brian2 is a spiking-network simulator, but its building blocks express a rate-based GLE network
directly: one NeuronGroup per population (u, v, r, phi', the error err ('e' is Euler's number in Brian), the back-projection bp, the drive),
dense Synapses per weight matrix with two summed variables (drive_post = w r_pre,
bp_pre = w e_post) and a run_regularly weight update. The step of docs/theory.md §6 is
obtained by placing the operations in Brian's schedule:
    'start'   errors of every population from the published r, phi', bp (and y*(t_k));
    'groups'  summed variables (Brian runs them at order target.order - 1): drive = W r_pub + ...,
              bp = W^T e, both with the old W; then (order 20) the SGD update of W;
    'end'     neuronal dynamics, publication of r and phi', bias update.
Code generation target: numpy (no compiler needed). A batch has no natural expression here
(weights shared between copies of a network), so batch > 1 is not offered (n/a in the table).
Same network, init, inputs and checksum as bench/c/gle_fused.c.
Run with Debian's python: /usr/bin/python3 bench/py/gle_brian.py --sizes 100-100-10
"""
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import gle_common  # noqa: E402

logging.getLogger("brian2").setLevel(logging.ERROR)
import brian2 as b2  # noqa: E402

b2.prefs.codegen.target = "numpy"
b2.BrianLogger.log_level_error()

PHI_CODE = {
    "tanh": "r = tanh(ub)\ndphi = 1 - r*r",
    "sigmoid": "r = 1/(1 + exp(-ub))\ndphi = r*(1 - r)",
    "linear": "r = ub\ndphi = 1",
}


class Net:
    def __init__(self, spec, B, f32):
        if B != 1:
            raise SystemExit("gle_brian: batch > 1 is not supported (Brian2 has no shared-weight batch)")
        if f32:
            b2.prefs.core.default_float_dtype = np.float32
        b2.start_scope()
        self.s = spec
        L = len(spec.sizes)
        self.L = L
        dt = spec.dt
        b2.defaultclock.dt = dt * b2.second
        ns = {"dt_": dt, "gamma": spec.gamma, "beta": spec.beta, "c": spec.eta}
        # the input: a stream of t, evaluated whenever it is read (at t_k)
        self.inp = b2.NeuronGroup(spec.sizes[0], "x = sin(wx*t/second + px) : 1\nwx : 1 (constant)\npx : 1 (constant)",
                                  namespace=ns, order=10, name="inp")
        self._set_input_fn(spec)
        self.pops = [None]
        self.syn = [None]
        for p in range(1, L):
            n, out = spec.sizes[p], p == L - 1
            eqs = """u : 1
                     v : 1
                     r : 1
                     dphi : 1
                     err : 1
                     b : 1
                     drive : 1
                     tau_m : 1 (constant)
                     tau_r : 1 (constant)"""
            if out:
                eqs += "\ny = ya*sin(wy*t/second + py) : 1\nya : 1 (constant)\nwy : 1 (constant)\npy : 1 (constant)"
            else:
                eqs += "\nbp : 1"
            G = b2.NeuronGroup(n, eqs, namespace=ns, order=10, name=f"pop{p}")
            G.tau_m = spec.tau_m[p]
            G.tau_r = spec.tau_r[p]
            G.b = spec.b[p]
            g = "beta*dphi*(y - r)" if out else "dphi*bp"
            G.run_regularly(f"g = {g}\nvd = (g - v)/tau_r\nerr = v + tau_m*vd\nv = v + dt_*vd",
                            when="start", order=p, name=f"errors{p}")
            G.run_regularly("ud = (gamma*err - (u - (drive + b)))/tau_m\nub = u + tau_r*ud\nu = u + dt_*ud\n"
                            + PHI_CODE[spec.phis[p]] + "\nb = b + c*err",
                            when="end", order=p, name=f"dynamics{p}")
            self.pops.append(G)
        if hasattr(self, "_ytarget"):
            o = self.pops[L - 1]
            o.ya, o.wy, o.py = self._ytarget
        for p in range(1, L):
            pre = self.inp if p == 1 else self.pops[p - 1]
            rpre = "x_pre" if p == 1 else "r_pre"
            model = f"w : 1\ndrive_post = w*{rpre} : 1 (summed)"
            if p > 1:
                model += "\nbp_pre = w*err_post : 1 (summed)"
            S = b2.Synapses(pre, self.pops[p], model, namespace=ns, name=f"W{p}")
            n, m = spec.sizes[p], spec.sizes[p - 1]
            J, I = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")  # post j, pre i
            self._ij = getattr(self, "_ij", [None] * L)
            self._ij[p] = (J.ravel(), I.ravel())
            S.connect(i=I.ravel(), j=J.ravel())
            S.w = spec.W[p][J.ravel(), I.ravel()]
            # the update reads the old r_pre and this step's e_post, after both summed variables
            S.run_regularly(f"w = w + c*err_post*{rpre}", when="groups", order=20, name=f"update{p}")
            self.syn.append(S)
        self.net = b2.Network(self.inp, *self.pops[1:], *self.syn[1:])
        self.net.store("init")

    def _set_input_fn(self, spec):
        _, self.inp.wx, self.inp.px = spec.x_sin
        assert np.all(spec.x_sin[0] == 1.0)
        self._ytarget = spec.y_sin

    def reset(self):
        self.net.restore("init")

    def run(self, steps):
        self.net.run(steps * self.s.dt * b2.second)

    def step(self, k):
        self.run(1)

    def output(self):
        return np.array(self.pops[self.L - 1].r[:])  # a copy: Brian hands out views

    def checksum_parts(self):
        states = [(np.array(G.u[:]), np.array(G.v[:]), np.array(G.r[:])) for G in self.pops[1:]]
        params = []
        for p in range(1, self.L):
            n, m = self.s.sizes[p], self.s.sizes[p - 1]
            W = np.zeros((n, m))
            J, I = self._ij[p]
            W[J, I] = self.syn[p].w[:]
            params += [W, np.array(self.pops[p].b[:])]
        return states, params


if __name__ == "__main__":
    sys.exit(gle_common.main("brian2", Net))
