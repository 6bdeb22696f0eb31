#!/usr/bin/python3
"""The vle Python package against `vlec run` (issue 17; numbers in bench/README.md).

  time to first step   wall time of `vlec run MODEL --steps 1` (a process from start to exit:
                       an upper bound of the time to the first step) with a cold compile
                       cache (an empty VLE_CACHE_DIR), warm (the second run) and without the
                       cache (--no-cache: the JIT); and in Python, in a fresh interpreter,
                       vle.compile + m.sim() + sim.run(steps=1), cold and warm (import time
                       apart);
  steps/s              `vlec run MODEL --steps N` (run.json's steps_per_second: the loop's
                       own wall time) against sim.run(steps=N) timed around the call, both
                       from the cached .so, best of --runs.

Usage: bench/python_vs_cli.py [--runs 3] [--quick]    (from the checkout, after make build)
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("VLE_BUILD_DIR", os.path.join(ROOT, "build"))
VLEC = os.path.join(BUILD, "vlec")
sys.path.insert(0, os.path.join(ROOT, "python"))

MODELS = {"gle_small": (os.path.join(ROOT, "examples", "gle_small", "model.vle"), 2_000_000),
          "784-300-100-10": (os.path.join(HERE, "gle_784.vle"), 10_000)}


def wall(cmd, env):
    """Wall seconds of a command, and its CPU seconds (user + system): on a loaded machine
    the wall time also counts waiting for a core."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    t = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return t, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def first_step(model, tmp, runs):
    """Seconds to the end of a one-step run: cold cache, warm cache, JIT."""
    out = {}
    for mode in ("cold", "warm", "jit"):
        best = None
        for r in range(runs):
            cache = os.path.join(tmp, "cache-%s-%d" % (mode, r))
            env = dict(os.environ, VLE_CACHE_DIR=cache)
            env.pop("VLE_NO_CACHE", None)
            cmd = [VLEC, "run", model, "--steps", "1", "--quiet", "--force", "--out",
                   os.path.join(tmp, "run")]
            if mode == "warm":
                wall(cmd, env)                       # fills the cache
            if mode == "jit":
                cmd.append("--no-cache")
            t = wall(cmd, env)
            best = t if best is None or t[0] < best[0] else best
        out[mode] = best
    return out


PY_FIRST = r"""
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, %r)
import vle
t1 = time.perf_counter()
m = vle.compile(%r)
s = m.sim()
s.run(steps=1)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def py_first_step(model, tmp, runs):
    out = {}
    for mode in ("cold", "warm"):
        best = None
        for r in range(runs):
            env = dict(os.environ, VLE_CACHE_DIR=os.path.join(tmp, "pycache-%s-%d" % (mode, r)))
            code = PY_FIRST % (os.path.join(ROOT, "python"), model)
            cmd = ["/usr/bin/python3", "-c", code]
            if mode == "warm":
                subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
            p = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True)
            imp, first = map(float, p.stdout.split())
            best = (imp, first) if best is None or first < best[1] else best
        out[mode] = best
    return out


def steps_per_s(model, steps, tmp, runs):
    import vle
    env = dict(os.environ, VLE_CACHE_DIR=os.path.join(tmp, "cache-sps"))
    env.pop("VLE_NO_CACHE", None)
    os.environ["VLE_CACHE_DIR"] = env["VLE_CACHE_DIR"]
    cli, py, py_rec, cli_rec = 0, 0, 0, 0
    for _ in range(runs):
        for rec, slot in ((None, "cli"), ("loss", "cli_rec")):
            out = os.path.join(tmp, "sps")
            cmd = [VLEC, "run", model, "--steps", str(steps), "--quiet", "--force", "--out", out]
            if rec:
                cmd += ["--record", rec]
            subprocess.run(cmd, env=env, check=True)
            with open(os.path.join(out, "run.json")) as f:
                v = json.load(f)["steps_per_second"]
            if slot == "cli":
                cli = max(cli, v)
            else:
                cli_rec = max(cli_rec, v)
        m = vle.compile(model)
        for rec in (None, "loss"):
            s = m.sim()
            t = time.perf_counter()
            s.run(steps=steps, record=[rec] if rec else ())
            v = steps / (time.perf_counter() - t)
            if rec:
                py_rec = max(py_rec, v)
            else:
                py = max(py, v)
    return cli, py, cli_rec, py_rec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="vle-pybench-")
    try:
        print("time to first step (s, best of %d)" % a.runs)
        print("%-16s %10s %16s %10s %12s %12s %10s" % ("model", "cli cold", "cli warm (cpu)",
                                                       "cli JIT", "py cold", "py warm",
                                                       "py import"))
        for name, (model, steps) in MODELS.items():
            c = first_step(model, tmp, a.runs)
            p = py_first_step(model, tmp, a.runs)
            print("%-16s %10.3f %8.3f (%.3f) %10.3f %12.3f %12.3f %10.3f" % (
                name, c["cold"][0], c["warm"][0], c["warm"][1], c["jit"][0], p["cold"][1],
                p["warm"][1], p["warm"][0]))
        print("\nsteps/s (best of %d)" % a.runs)
        print("%-16s %9s %12s %12s %7s %12s %12s %7s" % ("model", "steps", "vlec run",
                                                         "python", "ratio", "vlec +loss",
                                                         "py +loss", "ratio"))
        for name, (model, steps) in MODELS.items():
            if a.quick:
                steps //= 4
            cli, py, cli_rec, py_rec = steps_per_s(model, steps, tmp, a.runs)
            print("%-16s %9d %12.0f %12.0f %6.1f%% %12.0f %12.0f %6.1f%%" % (
                name, steps, cli, py, 100 * py / cli, cli_rec, py_rec, 100 * py_rec / cli_rec))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
