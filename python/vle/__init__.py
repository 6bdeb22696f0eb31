"""vle from Python: compile a model, simulate and train it, NumPy arrays in and out.

    import vle
    m = vle.compile("model.vle")
    sim = m.sim(batch=4, seed=1)
    res = sim.run(steps=20000, inputs={"x": x}, targets={"y": y}, record=["loss", "o.rate"])

docs/python.md is the reference. The package is pure Python over libvlert (ctypes); the
steps run in C (vle_runner, a chunk of steps per call), so a run from Python is as fast as
`vlec run` and equal to it bit for bit.
"""
import ctypes as C
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
import weakref

import numpy as np

from . import _capi
from ._paths import find_vlec, find_libvlert

__all__ = ["compile", "load", "Model", "Sim", "Result", "VleError", "version"]


class VleError(Exception):
    """An error reported by vle: the message is vle's own. For a model's source errors,
    file, line and col locate the first one (None otherwise)."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message
        m = re.match(r"^(.*?):(\d+):(\d+): ", message)
        self.file, self.line, self.col = (m.group(1), int(m.group(2)), int(m.group(3))) if m \
            else (None, None, None)


def _raise(err):
    raise VleError(err.msg.decode(errors="replace"))


def version():
    return _capi.lib().vle_runtime_version().decode()


def _vlec(args, what):
    """Runs vlec; its stderr becomes the VleError of a failure."""
    p = subprocess.run([find_vlec()] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise VleError(p.stderr.strip() or "%s failed (vlec exit status %d)" % (what, p.returncode))
    return p.stdout


# ---- compiling ------------------------------------------------------------------------------

def compile(path, precision="f64", cache=True):
    """Compiles MODEL.vle with `vlec build` and loads the shared object.

    With cache=True (and the cache on: docs/python.md "The compile cache") the .so comes from
    the compile cache, built there on a miss; cache=False builds a private copy."""
    if precision not in ("f64", "f32"):
        raise ValueError("precision must be 'f64' or 'f32', not %r" % (precision,))
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VleError("%s: no such file" % path)
    args = ["build", path, "--precision", precision]
    if cache and os.environ.get("VLE_NO_CACHE", "") in ("", "0"):
        so = _vlec(args + ["--cached"], "vlec build").strip()
        return load(so, source=path)
    tmp = tempfile.mkdtemp(prefix="vle-build-")
    try:
        so = os.path.join(tmp, "model.so")
        _vlec(args + ["-o", so], "vlec build")
        return load(so, source=path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)   # dlopen keeps the mapping alive


def load(path, source=None):
    """Loads a model built by `vlec build`. source: its .vle, for derive()."""
    return Model(os.fspath(path), source)


# ---- the model ----------------------------------------------------------------------------

_INTERNAL = re.compile(r"^(lr\.|lit\d+$)")


class Model:
    """A loaded model: what it contains (params_info, signals, inputs, targets) and the
    simulations of it (sim, grad)."""

    def __init__(self, so_path, source=None):
        self._lib = lib = _capi.lib()
        err = _capi.Error()
        ptr = lib.vle_model_load_so(so_path.encode(), C.byref(err))
        if not ptr:
            _raise(err)
        self._ptr = ptr
        self._free = weakref.finalize(self, lib.vle_model_free, ptr)
        self.source = os.path.abspath(source) if source else None
        self.path = so_path
        self.name = lib.vle_model_get_name(ptr).decode()
        self.hash = lib.vle_model_hash(ptr).decode()
        self.dtype = np.float64 if lib.vle_model_real_size(ptr) == 8 else np.float32
        self.precision = "f64" if self.dtype == np.float64 else "f32"
        s = lib.vle_model_settings(ptr).contents
        self.settings = {"dt": s.dt, "gamma": s.gamma, "errors": s.errors.decode(),
                         "scheme": s.scheme.decode(), "batch": s.batch}
        if s.eqprop:   # equilibrium propagation (docs/theory.md §10b)
            self.settings["eqprop"] = {"symmetric": bool(s.ep_symmetric),
                                       "free_steps": s.ep_free, "nudged_steps": s.ep_nudged}
        self._read_info()

    def _read_info(self):
        lib, m = self._lib, self._ptr
        self.buffers = {}
        for i in range(lib.vle_model_nbuffers(m)):
            b = lib.vle_model_buffer(m, i).contents
            self.buffers[b.name.decode()] = {
                "index": i, "role": lib.vle_role_name(b.role).decode(),
                "rows": b.rows, "cols": b.cols, "batched": b.batched}
        names = {i: n for n, i in ((n, v["index"]) for n, v in self.buffers.items())}
        self.params_info = {}
        for i in range(lib.vle_model_nparams(m)):
            p = lib.vle_model_param(m, i).contents
            b = lib.vle_model_buffer(m, p.buf).contents
            kind = p.kind.decode()
            shape = (b.rows,) if kind != "weight" and b.cols == 1 else (b.rows, b.cols)
            self.params_info[p.name.decode()] = {
                "shape": shape, "kind": kind, "learned": p.learn >= 0,
                "grad": names[p.grad] if p.grad >= 0 else None}
        self.inputs = self._streams(lib.vle_model_ninputs, lib.vle_model_input)
        self.targets = self._streams(lib.vle_model_ntargets, lib.vle_model_target)
        self.populations = {}
        for i in range(lib.vle_model_npopulations(m)):
            p = lib.vle_model_population(m, i).contents
            self.populations[p.name.decode()] = p.size

    def _streams(self, count, get):
        out = {}
        for i in range(count(self._ptr)):
            s = get(self._ptr, i).contents
            out[s.name.decode()] = {"size": s.size, "default": s.has_default, "onehot": s.onehot}
        return out

    @property
    def signals(self):
        """What run(record=...) takes besides parameters: {name: shape per batch element},
        as `vlec run --record` lists them (not the compiler's internal buffers)."""
        out = {}
        for n, b in self.buffers.items():
            if b["role"] in ("temp", "pubnext", "grad", "pub") or _INTERNAL.match(n):
                continue
            if n in self.params_info:
                continue
            out[n] = (b["rows"] * b["cols"],)
        return out

    def __repr__(self):
        return "<vle.Model %s (%s): %d params, inputs %s, targets %s>" % (
            self.name, self.precision, len(self.params_info), list(self.inputs),
            list(self.targets))

    # ---- derivation --------------------------------------------------------------------------

    def derive(self, fmt="text"):
        """The derived dynamics, errors and plasticity (`vlec derive`): "text", "latex" or
        "json" (a dict)."""
        if fmt not in ("text", "latex", "json"):
            raise ValueError("fmt must be 'text', 'latex' or 'json', not %r" % (fmt,))
        if not self.source:
            raise VleError("%s: derive() needs the model's source: vle.load(so, source=...)"
                           % self.path)
        out = _vlec(["derive", self.source, "--format", fmt], "vlec derive")
        return json.loads(out) if fmt == "json" else out

    def _repr_latex_(self):
        """Jupyter: the derivation, an align* environment (MathJax typesets it as is; the
        leading % comment line of `vlec derive --format latex` is dropped)."""
        if not self.source:
            return None
        return "\n".join(l for l in self.derive("latex").splitlines() if not l.startswith("%"))

    # ---- simulations -------------------------------------------------------------------------

    def sim(self, batch=0, seed=0, errors=None, set=None, init=None, dt=None, gamma=None,
            learn=True, accumulate_grads=False, check_every=1, adjoint_memory=0,
            memory_limit=0, threads=0):
        """A new simulation (vle_sim_new): batch 0 and errors None are the model's;
        set={const: value(s)} as --set, init={param: array or .npy path} as --init;
        threads 0 is auto (docs/runtime.md "Threads"), N exactly N (the same results)."""
        return Sim(self, batch=batch, seed=seed, errors=errors, set=set, init=init, dt=dt,
                   gamma=gamma, learn=learn, accumulate_grads=accumulate_grads,
                   check_every=check_every, adjoint_memory=adjoint_memory,
                   memory_limit=memory_limit, threads=threads)

    def grad(self, steps=None, inputs=None, targets=None, errors=None, batch=0, seed=0,
             set=None, init=None, dt=None, window=-1, **run):
        """The gradient estimate of every learnable parameter, as `vlec grad`:
        {name: sum_k dt G_k / beta} (float64, the parameter's shape)."""
        s = self.sim(batch=batch, seed=seed, errors=errors, set=set, init=init, dt=dt,
                     learn=False, accumulate_grads=True)
        # (the sim's optimizers are off; holding learning in the run would also stop the
        # grad sums of the local schemes and of equilibrium propagation)
        s.run(steps=steps, inputs=inputs, targets=targets, window=window, **run)
        return s.grads()


class Result(dict):
    """The recordings of a run, {name: numpy array} in the layout of `vlec run`'s .npy files;
    steps: the steps run; interrupted: whether Ctrl-C stopped it early."""

    def __init__(self, data, steps, planned):
        super().__init__(data)
        self.steps, self.planned = steps, planned


class Params:
    """sim.params: {name: numpy array} views that copy in and out (vle_sim_get/_set)."""

    def __init__(self, sim):
        self._sim = sim

    def keys(self):
        return self._sim.model.params_info.keys()

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self._sim.model.params_info)

    def __contains__(self, name):
        return name in self._sim.model.params_info

    def __getitem__(self, name):
        info = self._info(name)
        return self._sim.get(name).reshape(info["shape"])

    def __setitem__(self, name, value):
        info = self._info(name)
        v = np.asarray(value, dtype=np.float64)
        if v.shape != tuple(info["shape"]):
            raise ValueError("%s has shape %s, the value %s" % (name, tuple(info["shape"]), v.shape))
        self._sim.set(name, v)

    def items(self):
        return [(n, self[n]) for n in self.keys()]

    def _info(self, name):
        if name not in self._sim.model.params_info:
            raise KeyError("the model has no parameter %r (parameters: %s)"
                           % (name, ", ".join(self._sim.model.params_info)))
        return self._sim.model.params_info[name]

    def __repr__(self):
        return "Params(%s)" % ", ".join("%s%s" % (n, tuple(i["shape"]))
                                         for n, i in self._sim.model.params_info.items())


def _cleanup(lib, ptr, tmp):
    lib.vle_sim_free(ptr)
    shutil.rmtree(tmp, ignore_errors=True)


class Sim:
    """A simulation: its buffers, optimizer and random state (vle_sim)."""

    def __init__(self, model, batch, seed, errors, set, init, dt, gamma, learn,
                 accumulate_grads, check_every, adjoint_memory, memory_limit, threads=0):
        self.model, self._lib = model, model._lib
        self._tmp = tempfile.mkdtemp(prefix="vle-sim-")
        o = _capi.SimOptions()
        self._lib.vle_sim_options_init(C.byref(o))
        o.batch, o.seed = int(batch), int(seed)
        if dt is not None:
            o.dt = float(dt)
        if gamma is not None:
            o.gamma = float(gamma)
        o.errors = errors.encode() if errors else None
        o.learn, o.accumulate_grads = bool(learn), bool(accumulate_grads)
        o.check_every = int(check_every)
        o.adjoint_memory, o.memory_limit = int(adjoint_memory), int(memory_limit)
        o.threads = int(threads)
        keep = []          # what the C structs point to, alive until vle_sim_new returns
        sets = list((set or {}).items())
        ov = (_capi.Override * max(len(sets), 1))()
        for i, (name, value) in enumerate(sets):
            v = np.ascontiguousarray(np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel())
            keep.append(v)
            ov[i] = _capi.Override(name.encode(), v.ctypes.data_as(C.POINTER(C.c_double)), v.size)
        o.sets, o.nsets = C.cast(ov, C.c_void_p), len(sets)
        inits = list((init or {}).items())
        fi = (_capi.InitFile * max(len(inits), 1))()
        for i, (name, value) in enumerate(inits):
            fi[i] = _capi.InitFile(name.encode(), self._file(name, value, "init").encode())
        o.inits, o.ninits = C.cast(fi, C.c_void_p), len(inits)
        err = _capi.Error()
        ptr = self._lib.vle_sim_new(model._ptr, C.byref(o), C.byref(err))
        if not ptr:
            shutil.rmtree(self._tmp, ignore_errors=True)
            _raise(err)
        self._ptr = ptr
        self._free = weakref.finalize(self, _cleanup, self._lib, ptr, self._tmp)
        self.seed = int(seed)
        self.params = Params(self)

    def _file(self, name, value, what):
        """A data array as a .npy file in the sim's directory (a path is used as it is)."""
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
        path = os.path.join(self._tmp, "%s-%s.npy" % (what, re.sub(r"[^A-Za-z0-9_.]", "_", name)))
        np.save(path, np.asarray(value, dtype=np.float64))
        return path

    def close(self):
        """Frees the simulation now (otherwise when it is garbage collected)."""
        self._free()

    # ---- state ---------------------------------------------------------------------------

    @property
    def steps_done(self):
        return self._lib.vle_sim_steps_done(self._ptr)

    @property
    def time(self):
        return self._lib.vle_sim_time(self._ptr)

    @property
    def batch(self):
        return self._lib.vle_sim_batch(self._ptr)

    @property
    def dt(self):
        return self._lib.vle_sim_dt(self._ptr)

    @property
    def errors(self):
        return self._lib.vle_sim_errors(self._ptr).decode()

    @property
    def threads(self):
        """(threads the kernels run on, why that many)"""
        why = C.c_char_p()
        n = self._lib.vle_sim_threads(self._ptr, C.byref(why))
        return n, why.value.decode()

    def get(self, name):
        """A buffer's values as float64 (flat: batch * rows * cols for a batched one)."""
        n = self._lib.vle_sim_count(self._ptr, name.encode())
        if n == 0:
            raise KeyError("the model has no buffer %r" % name)
        out = np.empty(n, dtype=np.float64)
        err = _capi.Error()
        if self._lib.vle_sim_get(self._ptr, name.encode(), out.ctypes.data, n, C.byref(err)):
            _raise(err)
        return out

    def set(self, name, values):
        v = np.ascontiguousarray(np.asarray(values, dtype=np.float64).ravel())
        err = _capi.Error()
        if self._lib.vle_sim_set(self._ptr, name.encode(), v.ctypes.data, v.size, C.byref(err)):
            _raise(err)

    def save_state(self, path):
        err = _capi.Error()
        if self._lib.vle_sim_save(self._ptr, os.fspath(path).encode(), C.byref(err)):
            _raise(err)

    def load_state(self, path):
        err = _capi.Error()
        if self._lib.vle_sim_load(self._ptr, os.fspath(path).encode(), C.byref(err)):
            _raise(err)

    def grads(self):
        """sum_k dt G_k / beta of every learnable parameter so far (a sim made with
        accumulate_grads=True): the estimate `vlec grad` writes."""
        m = self.model
        b = self._lib.vle_model_signal(m._ptr, b"beta")
        if b < 0:
            raise VleError("model '%s' has no beta signal (built by an older vlec: rebuild it)"
                           % m.name)
        beta_name = [n for n, v in m.buffers.items() if v["index"] == b][0]
        beta = self.get(beta_name)[0]
        if beta == 0:
            raise VleError("the weight beta of the cost in the energy is 0: the gradient "
                           "estimate sum dt G / beta is undefined")
        out = {}
        for name, info in m.params_info.items():
            if not info["learned"] or info["grad"] is None:
                continue
            n = int(np.prod(info["shape"]))
            g = np.empty(n, dtype=np.float64)
            err = _capi.Error()
            if self._lib.vle_sim_grad_sum(self._ptr, name.encode(), g.ctypes.data, n,
                                          C.byref(err)):
                _raise(err)
            out[name] = (g / beta).reshape(info["shape"])
        return out

    # ---- running -------------------------------------------------------------------------

    def run(self, steps=None, inputs=None, targets=None, record=(), learn=None,
            record_every=0, param_every=0, warmup=0, epochs=1, shuffle=True, window=-1,
            dataset=False, chunk_seconds=0.05):
        """Runs steps (None: the data's length) as `vlec run` with the same options, feeding
        inputs/targets ({name: array or .npy/.csv path}, shapes as --input/--target; row i
        feeds this run's step i; dataset=True as --dataset) and returning the recordings as
        a Result {name: array}.
        learn=False holds learning for this run. Ctrl-C raises KeyboardInterrupt between
        chunks of steps; the steps done stay done and the sim stays usable."""
        lib = self._lib
        if learn is None:
            learn = True
        if isinstance(record, str):
            record = [r for r in record.split(",") if r]
        spec = _capi.RunSpec()
        lib.vle_run_spec_init(C.byref(spec))
        spec.steps = -1 if steps is None else int(steps)
        keep = []
        for field, count, streams, what in (("inputs", "ninputs", inputs, "input"),
                                            ("targets", "ntargets", targets, "target")):
            items = list((streams or {}).items())
            arr = (_capi.StreamFile * max(len(items), 1))()
            for i, (name, value) in enumerate(items):
                arr[i] = _capi.StreamFile(name.encode(), self._file(name, value, what).encode())
            keep.append(arr)
            setattr(spec, field, arr)
            setattr(spec, count, len(items))
        rec = (C.c_char_p * max(len(record), 1))(*[r.encode() for r in record])
        spec.record, spec.nrecord = rec, len(record)
        spec.record_every, spec.param_every = int(record_every), int(param_every)
        spec.warmup, spec.epochs, spec.window = int(warmup), int(epochs), int(window)
        spec.shuffle, spec.learn, spec.seed = bool(shuffle), bool(learn), self.seed
        spec.dataset = bool(dataset)
        err = _capi.Error()
        runner = lib.vle_runner_new(self._ptr, C.byref(spec), C.byref(err))
        if not runner:
            _raise(err)
        try:
            return self._drive(runner, chunk_seconds)
        finally:
            lib.vle_runner_free(runner)

    def _drive(self, runner, chunk_seconds):
        lib, err = self._lib, _capi.Error()
        recs = []
        for i in range(lib.vle_runner_nrecords(runner)):
            info = _capi.RecordInfo()
            lib.vle_runner_record(runner, i, C.byref(info), C.byref(err))
            rows = np.zeros((info.rows, info.row_reals), dtype=self.model.dtype)
            if info.rows:
                lib.vle_runner_bind(runner, i, rows.ctypes.data, C.byref(err))
            recs.append((info.name.decode(), info.kind.decode(), info.batch, info.ndim,
                         tuple(info.inner[:info.ndim]), info.every, rows))
        planned = lib.vle_runner_planned(runner)
        chunk, done = 256, 0
        try:
            while done < planned:
                t0 = time.perf_counter()
                n = lib.vle_runner_step(runner, chunk, C.byref(err))
                if n < 0:
                    lib.vle_runner_finish(runner, None)
                    _raise(err)
                done += n
                took = time.perf_counter() - t0
                # chunks of about chunk_seconds: Ctrl-C is seen that often, and the calls
                # from Python cost nothing against the steps
                if took < chunk_seconds / 2 and chunk < 1 << 24:
                    chunk *= 2
                elif took > chunk_seconds * 2 and chunk > 1:
                    chunk //= 2
        except KeyboardInterrupt:
            lib.vle_runner_finish(runner, None)
            raise
        if lib.vle_runner_finish(runner, C.byref(err)):
            _raise(err)
        return Result(self._layout(recs), done, planned)

    def _layout(self, recs):
        """The rows as `vlec run` writes them: [batch, rows, inner] for a batched signal
        (batch 1 included), [rows, inner] for a shared one."""
        out = {}
        for name, kind, batch, ndim, inner, every, rows in recs:
            if kind == "param" and every == 0:      # a parameter at the end: its value
                out[name] = self.params[name].astype(self.model.dtype)
                continue
            if kind == "mean":
                out[name] = rows.reshape(-1)
            elif kind == "batched":
                out[name] = np.ascontiguousarray(
                    rows.reshape((rows.shape[0], batch) + inner).swapaxes(0, 1))
            else:
                out[name] = rows.reshape((rows.shape[0],) + inner)
        return out

    def __repr__(self):
        return "<vle.Sim of %s: batch %d, %s errors, %d steps done>" % (
            self.model.name, self.batch, self.errors, self.steps_done)
