"""The compile cache (compiler/mcache.c, docs/python.md "The compile cache"): a hit reuses
the .so, a changed used file misses, two compiles at once both succeed, and a run from the
cached .so equals the JIT's bit for bit. Every test uses its own cache directory: the
user's real cache is never touched."""
import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np

import vle

SRC = os.environ.get("VLE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("VLE_BUILD_DIR", os.path.join(SRC, "build"))
VLEC = os.path.join(BUILD, "vlec")
P1 = os.path.join(SRC, "tests", "data", "gle_p1", "model.vle")

MAIN = """model cached
use "lib.vle"
input  x[1] = [drive(t)]
target y[1] = [0.3]
population o[1] { tau_m = 0.5; tau_r = 0.5; phi = linear }
weight W[o, x] init constant(0.5)
cost C = 0.5 * |y - rate(o)|^2
energy = 0.5 * |prosp(o, o.tau_m) - W @ x|^2 + C
learn W with sgd(0.1)
settings { dt = 0.05 }
"""


class Cache(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vle-cachetest-")
        self.cache = os.path.join(self.tmp, "cache")
        self.env = dict(os.environ, VLE_CACHE_DIR=self.cache)
        self.env.pop("VLE_NO_CACHE", None)
        self.old = os.environ.get("VLE_CACHE_DIR")
        os.environ["VLE_CACHE_DIR"] = self.cache

    def tearDown(self):
        if self.old is None:
            os.environ.pop("VLE_CACHE_DIR", None)
        else:
            os.environ["VLE_CACHE_DIR"] = self.old
        shutil.rmtree(self.tmp, ignore_errors=True)

    def vlec(self, *args):
        p = subprocess.run([VLEC] + list(args), env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.strip()

    def model(self, drive="sin(2.0*time)"):
        main = os.path.join(self.tmp, "main.vle")
        with open(main, "w") as f:
            f.write(MAIN)
        with open(os.path.join(self.tmp, "lib.vle"), "w") as f:
            f.write("fn drive(time) = %s\n" % drive)
        return main

    def test_hit_reuses_the_entry(self):
        main = self.model()
        so = self.vlec("build", main, "--cached")
        self.assertTrue(so.startswith(self.cache + "/") and so.endswith(".so"), so)
        stamp = os.stat(so).st_mtime_ns
        self.assertEqual(self.vlec("build", main, "--cached"), so)
        self.assertEqual(os.stat(so).st_mtime_ns, stamp)      # not rebuilt
        self.assertEqual(len([f for f in os.listdir(self.cache) if f.endswith(".so")]), 1)
        f32 = self.vlec("build", main, "--cached", "--precision", "f32")
        self.assertNotEqual(f32, so)                           # the precision is in the key
        m = vle.compile(main)                                  # Python: the same entry
        self.assertEqual(m.path, so)

    def test_changed_used_file_misses(self):
        main = self.model("sin(2.0*time)")
        so1 = self.vlec("build", main, "--cached")
        x1 = vle.compile(main).sim().run(steps=10, record=["x"])["x"]
        self.model("cos(2.0*time)")                            # only lib.vle changes
        so2 = self.vlec("build", main, "--cached")
        self.assertNotEqual(so1, so2)
        x2 = vle.compile(main).sim().run(steps=10, record=["x"])["x"]
        t = 0.05 * np.arange(10)
        self.assertTrue(np.allclose(x1[0, :, 0], np.sin(2 * t)))   # [batch, steps, n]
        self.assertTrue(np.allclose(x2[0, :, 0], np.cos(2 * t)))
        self.model("sin(2.0*time)")                            # back: the first entry again
        self.assertEqual(self.vlec("build", main, "--cached"), so1)

    def test_two_concurrent_compiles(self):
        main = self.model()
        procs = [subprocess.Popen([VLEC, "build", main, "--cached"], env=self.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = [p.communicate() for p in procs]
        for p, (out, err) in zip(procs, outs):
            self.assertEqual(p.returncode, 0, err)
        self.assertEqual(outs[0][0], outs[1][0])
        so = outs[0][0].strip()
        vle.load(so).sim().run(steps=5)                         # complete and loadable
        left = [f for f in os.listdir(self.cache) if "tmp" in f]
        self.assertEqual(left, [], "temporary files left in the cache")

    def test_cached_run_equals_the_jit(self):
        """vlec run from the cache (.so, every kernel; built by the compiler on a miss, run
        by vlec alone on a hit) and --no-cache (JIT, the kernels the run needs) write the
        same numbers."""
        a, b = os.path.join(self.tmp, "a"), os.path.join(self.tmp, "b")
        opts = ["--steps", "300", "--batch", "2", "--seed", "5", "--warmup", "20", "--record",
                "loss,o.rate,h1'", "--quiet"]
        self.vlec("run", P1, "--no-cache", "--out", a, *opts)
        self.assertEqual(os.listdir(self.cache) if os.path.exists(self.cache) else [], [])
        self.vlec("run", P1, "--out", b, *opts)               # a miss: built, then run
        self.assertTrue(any(f.endswith(".so") for f in os.listdir(self.cache)))
        c = os.path.join(self.tmp, "c")                         # a hit: vlec without LLVM
        p = subprocess.run([VLEC, "run", P1, "--out", c] + opts, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=dict(self.env, LD_DEBUG="files"))
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertIn("libvlert", p.stderr)                     # LD_DEBUG lists what loads
        self.assertNotIn("libLLVM", p.stderr, "a cache hit loaded the compiler")
        for f in ("loss.npy", "o.rate.npy", "h1_dot.npy", "t.npy", "params/W1.npy",
                  "params/b2.npy"):
            want = np.load(os.path.join(a, f))
            for out in (b, c):
                self.assertTrue(np.array_equal(want, np.load(os.path.join(out, f))), f)
        with open(os.path.join(c, "model.vle")) as f, open(P1) as g:
            self.assertEqual(f.read(), g.read())                # the source copied, as before

    def test_off(self):
        env = dict(self.env, VLE_NO_CACHE="1")
        p = subprocess.run([VLEC, "build", self.model(), "--cached"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("the compile cache is off", p.stderr)
        self.assertFalse(os.path.exists(self.cache))


if __name__ == "__main__":
    unittest.main()
