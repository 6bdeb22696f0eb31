"""`make install` into a temporary prefix (cmake --install of this build), then the prefix
moved elsewhere: the moved vlec runs an example and finds the stdlib next to itself (the
installed copy, not the checkout's), VLE_STDLIB_DIR overrides it, and the package imports
from there and finds its own vlec and libvlert. And uninstall removes every file."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SRC = os.environ.get("VLE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("VLE_BUILD_DIR", os.path.join(SRC, "build"))
PYVER = "python%d.%d" % sys.version_info[:2]

MODEL = """model marked
use std.signals
input  x[1] = [installed_marker(sine(t, 0.2, 0))]
target y[1] = [0.2]
population o[1] { tau_m = 1.0; tau_r = 1.0; phi = linear }
weight W[o, x]
cost C = 0.5 * |y - rate(o)|^2
energy = 0.5 * |prosp(o, o.tau_m) - W @ x|^2 + C
learn W with sgd(0.1)
"""


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


class Install(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vle-installtest-")
        # cmake --install records what it wrote in BUILD/install_manifest.txt, which
        # `make uninstall` reads: keep the user's own install's manifest as it was
        self.manifest = os.path.join(BUILD, "install_manifest.txt")
        self.saved = None
        if os.path.exists(self.manifest):
            with open(self.manifest) as f:
                self.saved = f.read()
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("VLE_BUILD_DIR", "PYTHONPATH", "VLEC", "VLE_LIBVLERT",
                                 "VLE_STDLIB_DIR")}
        self.env["VLE_CACHE_DIR"] = os.path.join(self.tmp, "cache")

    def tearDown(self):
        if self.saved is None:
            if os.path.exists(self.manifest):
                os.remove(self.manifest)
        else:
            with open(self.manifest, "w") as f:
                f.write(self.saved)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def install(self, prefix):
        p = run(["cmake", "--install", BUILD, "--prefix", prefix])
        self.assertEqual(p.returncode, 0, p.stderr)

    def files(self, root):
        return sorted(os.path.relpath(os.path.join(d, f), root)
                      for d, _, fs in os.walk(root) for f in fs)

    def test_uninstall_removes_every_file(self):
        pfx = os.path.join(self.tmp, "a")
        self.install(pfx)
        got = self.files(pfx)
        for f in ("bin/vlec", "bin/vle_data", "lib/libvlert.so", "include/vle.h",
                  "share/vle/stdlib/signals.vle", "lib/%s/dist-packages/vle/__init__.py" % PYVER):
            self.assertIn(f, got)
        p = run(["/usr/bin/python3", "-c", "import vle"],      # leaves a __pycache__
                env=dict(self.env, PYTHONPATH=os.path.join(pfx, "lib", PYVER, "dist-packages")))
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run(["bash", os.path.join(SRC, "scripts", "uninstall.sh"), self.manifest])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.files(pfx), [])
        self.assertFalse(os.path.exists(os.path.join(pfx, "share", "vle")))

    def test_moved_install_runs_and_imports(self):
        first, pfx = os.path.join(self.tmp, "first"), os.path.join(self.tmp, "moved")
        self.install(first)
        os.rename(first, pfx)                                  # relocatable
        vlec = os.path.join(pfx, "bin", "vlec")
        p = run(["readelf", "-d", vlec])
        if p.returncode == 0:
            self.assertNotIn(BUILD, p.stdout, "the installed vlec points into the build")
        # the installed stdlib, not the checkout's: a function only the installed copy has
        with open(os.path.join(pfx, "share", "vle", "stdlib", "signals.vle"), "a") as f:
            f.write("\nfn installed_marker(v) = v\n")
        model = os.path.join(self.tmp, "marked.vle")
        with open(model, "w") as f:
            f.write(MODEL)
        p = run([vlec, "check", model], env=self.env, cwd=self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run([vlec, "check", model], env=dict(self.env, VLE_STDLIB_DIR=os.path.join(SRC, "stdlib")))
        self.assertNotEqual(p.returncode, 0)                   # VLE_STDLIB_DIR wins
        self.assertIn("installed_marker", p.stderr)
        # an example, copied out of the checkout
        ex = os.path.join(self.tmp, "le_teacher.vle")
        shutil.copy(os.path.join(SRC, "examples", "le_teacher", "model.vle"), ex)
        out = os.path.join(self.tmp, "run")
        p = run([vlec, "run", ex, "--steps", "200", "--record", "loss", "--quiet", "--out", out],
                env=self.env, cwd=self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(os.path.join(out, "loss.npy")))
        # the package, from the moved prefix, uses the moved vlec and libvlert
        code = ("import vle, vle._paths as p, numpy as np\n"
                "print(vle.__file__); print(p.find_vlec()); print(p.find_libvlert())\n"
                "r = vle.compile(%r).sim().run(steps=200, record=['loss'])\n"
                "print(np.array_equal(r['loss'], np.load(%r)))\n"
                % (ex, os.path.join(out, "loss.npy")))
        p = run(["/usr/bin/python3", "-c", code], cwd=self.tmp,
                env=dict(self.env, PYTHONPATH=os.path.join(pfx, "lib", PYVER, "dist-packages")))
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.split()
        self.assertTrue(all(l.startswith(pfx + "/") for l in lines[:3]), lines)
        self.assertEqual(lines[3], "True")                     # the same run as vlec's


if __name__ == "__main__":
    unittest.main()
