"""The vle Python package (python/vle, docs/python.md), run by ctest with /usr/bin/python3.

Every run from Python is compared bit for bit with `vlec run` / `vlec grad` given the same
options (the project's promise: one run loop, whichever way it is driven); the errors,
parameters, saved states and Ctrl-C are checked against what the C side does.
Environment (set by tests/CMakeLists.txt... CMakeLists.txt): VLE_BUILD_DIR (vlec, libvlert),
VLE_SOURCE_DIR; PYTHONPATH holds python/.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import unittest

import numpy as np

import vle

SRC = os.environ.get("VLE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("VLE_BUILD_DIR", os.path.join(SRC, "build"))
VLEC = os.path.join(BUILD, "vlec")
P1 = os.path.join(SRC, "tests", "data", "gle_p1", "model.vle")


def vlec(*args):
    args = [str(a) for a in args]
    if args[0] in ("run", "grad") and args[1].endswith(".vle"):
        args.insert(2, "--no-cache")   # the JIT: Python's .so must equal it bit for bit
    p = subprocess.run([VLEC] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise AssertionError("vlec %s failed (%d):\n%s" % (" ".join(map(str, args)),
                                                            p.returncode, p.stderr))
    return p.stdout


def stem(name):
    return name.replace("'", "_dot")


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vle-pytest-")
        cls.m = vle.compile(P1, cache=False)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def data(self, steps=400, batch=None, seed=0):
        rng = np.random.default_rng(seed)
        shape = (steps,) if batch is None else (batch, steps)
        return rng.normal(size=shape + (3,)), 0.3 * rng.normal(size=shape + (2,))

    def assert_same_as_cli(self, res, out, names):
        for n in names:
            want = np.load(os.path.join(out, stem(n) + ".npy"))
            self.assertIn(n, res)
            self.assertEqual(res[n].dtype, want.dtype, n)
            self.assertEqual(res[n].shape, want.shape, n)
            self.assertTrue(np.array_equal(res[n], want), "%s differs from vlec run" % n)


class Interface(Base):
    def test_model_info(self):
        m = self.m
        self.assertEqual(m.name, "case_p1")
        self.assertEqual(m.params_info["W1"]["shape"], (4, 3))
        self.assertEqual(m.params_info["b2"]["shape"], (2,))
        self.assertTrue(m.params_info["W2"]["learned"])
        self.assertFalse(m.params_info["h1.tau_m"]["learned"])
        self.assertEqual(m.signals["o.rate"], (2,))
        self.assertNotIn("grad.W1", m.signals)
        self.assertEqual(m.inputs["x"]["size"], 3)
        self.assertEqual(m.targets["y"]["size"], 2)
        self.assertEqual(m.settings["dt"], 0.02)

    def test_derive(self):
        def body(text):          # the text ends with the derivation's time: not compared
            return [l for l in text.splitlines() if " ms;" not in l]
        self.assertEqual(body(self.m.derive()), body(vlec("derive", P1)))
        self.assertIn("population h1", self.m.derive())
        self.assertEqual(self.m.derive("latex"), vlec("derive", P1, "--format", "latex"))
        j = self.m.derive("json")
        self.assertEqual(j["model"], "case_p1")
        self.assertEqual([p["name"] for p in j["populations"]], ["h1", "o"])
        latex = self.m._repr_latex_()
        self.assertTrue(latex.startswith("\\begin{align*}"), latex[:40])
        self.assertTrue(latex.rstrip().endswith("\\end{align*}"), latex[-40:])
        with self.assertRaises(ValueError):
            self.m.derive("html")

    def test_layout_shapes(self):
        s = self.m.sim(batch=3, seed=2)
        r = s.run(steps=50, record=["loss", "o.rate", "h1", "W1", "b1"], record_every=5)
        self.assertEqual(r["loss"].shape, (10,))
        self.assertEqual(r["o.rate"].shape, (3, 10, 2))
        self.assertEqual(self.m.sim().run(steps=4, record=["o.rate"])["o.rate"].shape,
                         (1, 4, 2))                         # batch 1 keeps its dimension
        self.assertEqual(r["t"].shape, (10, 1))
        self.assertEqual(r["W1"].shape, (10, 4, 3))       # snapshots every 5 steps
        self.assertEqual(r["b1"].shape, (10, 4))
        # a row after steps 5, 10, ...: t of the step that wrote it (k = 4, 9, ...)
        self.assertTrue(np.allclose(r["t"][:, 0], 0.02 * (np.arange(5, 51, 5) - 1)))
        self.assertEqual((r.steps, s.steps_done), (50, 50))


class SameAsVlecRun(Base):
    """A run from Python equals `vlec run` with the same options, bit for bit."""

    def check(self, cli_opts, sim_kw, run_kw, names, model=None, precision=None):
        out = self.path("cli-%d" % id(cli_opts))
        vlec("run", P1, "--out", out, "--quiet", *(cli_opts + (["--precision", precision]
                                                               if precision else [])))
        m = model or self.m
        res = m.sim(**sim_kw).run(**run_kw)
        self.assert_same_as_cli(res, out, names)
        return res, out

    def test_learning_run_with_data_warmup_and_thinning(self):
        x, y = self.data(400)
        np.save(self.path("x.npy"), x)
        np.save(self.path("y.npy"), y)
        rec = ["loss", "o.rate", "h1", "h1'", "W1", "energy"]
        res, out = self.check(
            ["--steps", "400", "--batch", "4", "--seed", "3", "--set", "beta=0.5",
             "--input", "x=" + self.path("x.npy"), "--target", "y=" + self.path("y.npy"),
             "--record", ",".join(rec), "--record-every", "3", "--warmup", "40"],
            dict(batch=4, seed=3, set={"beta": 0.5}),
            dict(steps=400, inputs={"x": x}, targets={"y": y}, record=rec, record_every=3,
                 warmup=40), rec + ["t"])
        sim_params = {n: np.load(os.path.join(out, "params", n + ".npy")) for n in ("W2", "b1")}
        self.assertGreater(np.abs(sim_params["W2"]).sum(), 0)

    def test_final_parameters_and_per_element_data(self):
        x, y = self.data(300, batch=2, seed=5)
        np.save(self.path("xb.npy"), x)
        np.save(self.path("yb.npy"), y)
        out = self.path("cli-params")
        vlec("run", P1, "--out", out, "--quiet", "--steps", "300", "--batch", "2", "--seed", "9",
             "--input", "x=" + self.path("xb.npy"), "--target", "y=" + self.path("yb.npy"))
        s = self.m.sim(batch=2, seed=9)
        s.run(steps=300, inputs={"x": x}, targets={"y": y})
        for n in self.m.params_info:
            want = np.load(os.path.join(out, "params", n + ".npy"))
            self.assertTrue(np.array_equal(s.params[n], want), n)

    def test_dataset_epochs_shuffled(self):
        rng = np.random.default_rng(11)
        x = rng.normal(size=(12, 20, 3))               # 12 samples of 20 steps
        y = 0.2 * rng.normal(size=(12, 20, 2))
        np.save(self.path("xd.npy"), x)
        np.save(self.path("yd.npy"), y)
        self.check(["--batch", "4", "--seed", "7", "--dataset", "--epochs", "2", "--input",
                    "x=" + self.path("xd.npy"), "--target", "y=" + self.path("yd.npy"),
                    "--record", "loss,o.rate"],
                   dict(batch=4, seed=7),
                   dict(inputs={"x": self.path("xd.npy")}, targets={"y": y}, epochs=2,
                        dataset=True, record=["loss", "o.rate"]), ["loss", "o.rate", "t"])

    def test_adjoint_windows_and_their_errors(self):
        rec = ["loss", "o.error", "h1.error", "W2"]
        self.check(["--steps", "250", "--errors", "adjoint", "--window", "60", "--seed", "1",
                    "--record", ",".join(rec)],
                   dict(errors="adjoint", seed=1),
                   dict(steps=250, window=60, record=rec), rec + ["t"])

    def test_no_learn_and_f32(self):
        m32 = vle.compile(P1, precision="f32", cache=False)
        self.assertEqual(m32.dtype, np.float32)
        res, _ = self.check(["--steps", "200", "--no-learn", "--record", "loss,o.rate"],
                            dict(), dict(steps=200, learn=False, record=["loss", "o.rate"]),
                            ["loss", "o.rate"], model=m32, precision="f32")
        self.assertEqual(res["loss"].dtype, np.float32)

    def test_grad_equals_vlec_grad(self):
        for errors in ("adjoint", "bptt"):
            out = self.path("cli-grad-" + errors)
            vlec("grad", P1, "--out", out, "--quiet", "--steps", "200", "--errors", errors,
                 "--window", "50", "--seed", "4")
            g = self.m.grad(steps=200, errors=errors, window=50, seed=4)
            self.assertEqual(sorted(g), ["W1", "W2", "b1", "b2"])
            for n, v in g.items():
                want = np.load(os.path.join(out, "grad", n + ".npy"))
                self.assertTrue(np.array_equal(v, want), errors + " " + n)


class EqProp(Base):
    """A model that learns by equilibrium propagation (docs/theory.md §10b) through Python:
    its settings, and a learning run and the gradient equal to vlec's."""

    def test_settings_run_and_grad_equal_vlec(self):
        ep = os.path.join(SRC, "tests", "data", "ep_small.vle")
        m = vle.compile(ep, cache=False)
        self.assertEqual(m.settings["eqprop"], {"symmetric": False, "free_steps": 100,
                                                "nudged_steps": 20})
        out = self.path("ep-run")
        vlec("run", ep, "--out", out, "--quiet", "--steps", "30", "--seed", "2",
             "--record", "loss")
        res = m.sim(seed=2).run(steps=30, record=["loss"])
        self.assert_same_as_cli(res, out, ["loss"])
        out = self.path("ep-grad")
        vlec("grad", ep, "--out", out, "--quiet", "--steps", "3", "--seed", "2")
        g = m.grad(steps=3, seed=2)
        for n, v in g.items():
            self.assertTrue(np.array_equal(v, np.load(os.path.join(out, "grad", n + ".npy"))), n)


class GradLocal(Base):
    def test_grad_of_a_local_scheme_equals_vlec_grad(self):
        """Model.grad with the prospective scheme: the grad sums run (they once stayed zero,
        because the run held learning, which also holds the sums)."""
        out = self.path("cli-grad-prosp")
        vlec("grad", P1, "--out", out, "--quiet", "--steps", "100", "--errors", "prospective",
             "--seed", "4")
        g = self.m.grad(steps=100, errors="prospective", seed=4)
        for n, v in g.items():
            want = np.load(os.path.join(out, "grad", n + ".npy"))
            self.assertTrue(np.abs(want).max() > 0, n)
            self.assertTrue(np.array_equal(v, want), n)


class Errors(Base):
    def test_source_error_has_file_line_col(self):
        bad = self.path("bad.vle")
        with open(bad, "w") as f:
            f.write("model m\nfoo bar\n")
        with self.assertRaises(vle.VleError) as cm:
            vle.compile(bad, cache=False)
        e = cm.exception
        self.assertEqual((e.file, e.line, e.col), (bad, 2, 1))
        self.assertIn("unexpected name 'foo'", str(e))

    def test_runtime_errors(self):
        s = self.m.sim()
        with self.assertRaises(vle.VleError) as cm:
            s.run(steps=10, record=["o.rat"])
        self.assertIn("did you mean 'o.rate'", str(cm.exception))
        with self.assertRaises(vle.VleError) as cm:
            s.run(steps=10, inputs={"z": np.zeros((10, 3))})
        self.assertIn("no input of that name", str(cm.exception))
        with self.assertRaises(vle.VleError) as cm:
            s.run(steps=10, inputs={"x": np.zeros((5, 3))})
        self.assertIn("5 steps of data for x, the run needs 10", str(cm.exception))
        with self.assertRaises(vle.VleError):
            self.m.sim(set={"nosuch": 1.0})
        with self.assertRaises(vle.VleError):
            self.m.sim(errors="sideways")
        with self.assertRaises(vle.VleError):
            s.load_state(self.path("missing.state"))
        self.assertEqual(s.steps_done, 0)      # nothing ran, the sim is usable
        s.run(steps=5)
        self.assertEqual(s.steps_done, 5)

    def test_nan_is_an_error_and_rolls_back(self):
        s = self.m.sim()
        s.run(steps=3)
        with self.assertRaises(vle.VleError) as cm:
            s.run(steps=10, inputs={"x": np.full((10, 3), 1e308)})
        self.assertIn("rolled back", str(cm.exception))


class ParamsAndState(Base):
    def test_param_round_trip(self):
        s = self.m.sim(seed=1)
        w = np.arange(12.0).reshape(4, 3) / 7
        s.params["W1"] = w
        self.assertTrue(np.array_equal(s.params["W1"], w))
        with self.assertRaises(ValueError):
            s.params["W1"] = np.zeros((3, 4))
        with self.assertRaises(KeyError):
            s.params["W9"]
        self.assertEqual(sorted(s.params), sorted(self.m.params_info))

    def test_init_and_set_equal_vlec_run_init(self):
        w = np.linspace(-1, 1, 12).reshape(4, 3)
        np.save(self.path("w1.npy"), w)
        out = self.path("cli-init")
        vlec("run", P1, "--out", out, "--quiet", "--steps", "100", "--init",
             "W1=" + self.path("w1.npy"), "--record", "o.rate")
        res = self.m.sim(init={"W1": w}).run(steps=100, record=["o.rate"])
        self.assert_same_as_cli(res, out, ["o.rate"])
        s = self.m.sim()
        s.params["W1"] = w            # assigned before the first step: the same run
        self.assert_same_as_cli(s.run(steps=100, record=["o.rate"]), out, ["o.rate"])

    def test_save_and_load_state(self):
        st = self.path("s.state")
        a = self.m.sim(batch=2, seed=5)
        a.run(steps=150)
        a.save_state(st)
        ra = a.run(steps=100, record=["loss", "o.rate"])
        b = self.m.sim(batch=2, seed=99)
        b.load_state(st)
        self.assertEqual(b.steps_done, 150)
        rb = b.run(steps=100, record=["loss", "o.rate"])
        for n in ("loss", "o.rate", "t"):
            self.assertTrue(np.array_equal(ra[n], rb[n]), n)
        out = self.path("cli-resume")       # and `vlec run --load-state` goes on the same way
        so = self.path("p1.so")             # (with a .so: the JIT's sim has fewer buffers)
        vlec("build", P1, "-o", so)
        vlec("run", so, "--out", out, "--quiet", "--steps", "100", "--batch", "2",
             "--load-state", st, "--record", "loss,o.rate")
        self.assert_same_as_cli(rb, out, ["loss", "o.rate", "t"])
        with self.assertRaises(vle.VleError) as cm:
            self.m.sim(batch=3).load_state(st)
        self.assertIn("batch", str(cm.exception))


class Interrupt(Base):
    def test_ctrl_c_raises_and_leaves_the_sim_usable(self):
        old = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            s = self.m.sim(errors="adjoint", learn=False, accumulate_grads=True)  # windows, no drift
            timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
            timer.start()
            with self.assertRaises(KeyboardInterrupt):
                s.run(steps=10 ** 12, window=1000)   # nothing recorded: no rows to hold
            timer.join()
        finally:
            signal.signal(signal.SIGINT, old)
        done = s.steps_done
        self.assertGreater(done, 0)
        self.assertLess(done, 10 ** 12)
        r = s.run(steps=20, window=10, record=["loss"])   # no window left open
        self.assertEqual((s.steps_done, r["loss"].shape), (done + 20, (20,)))



class Threads(Base):
    """sim(threads=N) through the built .so: the same bits on 1 and 2 threads, and what the
    runtime chose (docs/runtime.md "Threads")."""

    def test_same_bits_on_two_threads(self):
        m = vle.compile(os.path.join(SRC, "bench", "models", "gle_100-100-10.vle"), cache=False)
        runs = []
        for n in (1, 2):
            s = m.sim(batch=7, seed=3, threads=n)
            self.assertEqual(s.threads[0], n)
            res = s.run(steps=60, record=["o.rate"])
            runs.append((res["o.rate"], s.params["W1"], s.params["W2"]))
        w0 = m.sim(batch=7, seed=3).params["W1"]
        self.assertGreater(np.abs(runs[0][1] - w0).max(), 0)   # learning moved W1
        for a, b in zip(runs[0], runs[1]):
            self.assertTrue(np.array_equal(a, b))

    def test_auto_uses_one_thread_for_a_small_network(self):
        n, why = self.m.sim().threads
        self.assertEqual(n, 1)
        self.assertTrue(why.startswith("auto"), why)

if __name__ == "__main__":
    unittest.main()
