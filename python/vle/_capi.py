"""ctypes declarations of libvlert's C API (runtime/vle.h), checked against the library.

Every struct declared here is compared with the library's own size (vle_abi_size) when the
library is loaded: a declaration that drifted from vle.h is an ImportError, not a struct
the library silently writes past.
"""
import ctypes as C
import os

from ._paths import find_libvlert


class Error(C.Structure):
    _fields_ = [("msg", C.c_char * 1024)]


class SimOptions(C.Structure):
    _fields_ = [("batch", C.c_long), ("seed", C.c_uint64), ("dt", C.c_double),
                ("gamma", C.c_double), ("errors", C.c_char_p), ("sets", C.c_void_p),
                ("nsets", C.c_size_t), ("inits", C.c_void_p), ("ninits", C.c_size_t),
                ("learn", C.c_bool), ("accumulate_grads", C.c_bool),
                ("check_every", C.c_long), ("adjoint_memory", C.c_size_t),
                ("memory_limit", C.c_size_t), ("threads", C.c_int),
                ("replicas", C.c_void_p)]


class Override(C.Structure):
    _fields_ = [("name", C.c_char_p), ("values", C.POINTER(C.c_double)), ("count", C.c_size_t)]


class InitFile(C.Structure):
    _fields_ = [("name", C.c_char_p), ("path", C.c_char_p)]


class StreamFile(C.Structure):
    _fields_ = [("name", C.c_char_p), ("path", C.c_char_p)]


class RunSpec(C.Structure):
    _fields_ = [("steps", C.c_int64), ("inputs", C.POINTER(StreamFile)),
                ("targets", C.POINTER(StreamFile)), ("ninputs", C.c_size_t),
                ("ntargets", C.c_size_t), ("record", C.POINTER(C.c_char_p)),
                ("nrecord", C.c_size_t), ("record_every", C.c_int64),
                ("param_every", C.c_int64), ("warmup", C.c_int64), ("epochs", C.c_int64),
                ("window", C.c_int64), ("shuffle", C.c_bool), ("learn", C.c_bool),
                ("seed", C.c_uint64), ("dataset", C.c_bool)]


class RecordInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("kind", C.c_char_p), ("batch", C.c_long),
                ("ndim", C.c_int), ("inner", C.c_int64 * 2), ("every", C.c_int64),
                ("rows", C.c_int64), ("row_reals", C.c_size_t)]


class BufferInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("role", C.c_int), ("rows", C.c_long),
                ("cols", C.c_long), ("batched", C.c_bool), ("pair", C.c_int)]


class PopulationInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("size", C.c_long)] + \
        [(f, C.c_int) for f in ("u", "udot", "e", "g", "v", "rate", "tau_m", "tau_r")]


class StreamInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("buf", C.c_int), ("size", C.c_long),
                ("has_default", C.c_bool), ("onehot", C.c_bool)]


class ParamInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("buf", C.c_int), ("grad", C.c_int),
                ("kind", C.c_char_p), ("dist", C.c_int), ("args", C.c_double * 2),
                ("path", C.c_char_p), ("learn", C.c_int), ("fused_lr", C.c_int)]


class Settings(C.Structure):
    _fields_ = [("dt", C.c_double), ("gamma", C.c_double), ("errors", C.c_char_p),
                ("scheme", C.c_char_p), ("batch", C.c_long), ("eqprop", C.c_bool),
                ("ep_symmetric", C.c_bool), ("ep_free", C.c_long), ("ep_nudged", C.c_long)]


STRUCTS = {"vle_error": Error, "vle_sim_options": SimOptions, "vle_override": Override,
           "vle_init_file": InitFile, "vle_stream_file": StreamFile, "vle_run_spec": RunSpec,
           "vle_record_info": RecordInfo, "vle_buffer_info": BufferInfo,
           "vle_population_info": PopulationInfo, "vle_stream_info": StreamInfo,
           "vle_param_info": ParamInfo, "vle_settings": Settings}

P, E = C.c_void_p, C.POINTER(Error)
_SIGNATURES = {   # name: (restype, argtypes)
    "vle_abi_size": (C.c_size_t, [C.c_char_p]),
    "vle_runtime_version": (C.c_char_p, []),
    "vle_model_load_so": (P, [C.c_char_p, E]),
    "vle_model_free": (None, [P]),
    "vle_model_get_name": (C.c_char_p, [P]),
    "vle_model_hash": (C.c_char_p, [P]),
    "vle_model_descriptor": (C.c_char_p, [P]),
    "vle_model_real_size": (C.c_size_t, [P]),
    "vle_model_settings": (C.POINTER(Settings), [P]),
    "vle_model_nbuffers": (C.c_int, [P]),
    "vle_model_buffer": (C.POINTER(BufferInfo), [P, C.c_int]),
    "vle_model_find_buffer": (C.c_int, [P, C.c_char_p]),
    "vle_model_npopulations": (C.c_int, [P]),
    "vle_model_population": (C.POINTER(PopulationInfo), [P, C.c_int]),
    "vle_model_ninputs": (C.c_int, [P]),
    "vle_model_input": (C.POINTER(StreamInfo), [P, C.c_int]),
    "vle_model_ntargets": (C.c_int, [P]),
    "vle_model_target": (C.POINTER(StreamInfo), [P, C.c_int]),
    "vle_model_nparams": (C.c_int, [P]),
    "vle_model_param": (C.POINTER(ParamInfo), [P, C.c_int]),
    "vle_model_signal": (C.c_int, [P, C.c_char_p]),
    "vle_role_name": (C.c_char_p, [C.c_int]),
    "vle_sim_options_init": (None, [C.POINTER(SimOptions)]),
    "vle_sim_new": (P, [P, C.POINTER(SimOptions), E]),
    "vle_sim_free": (None, [P]),
    "vle_sim_step": (C.c_int, [P, C.c_int64, E]),
    "vle_sim_steps_done": (C.c_int64, [P]),
    "vle_sim_time": (C.c_double, [P]),
    "vle_sim_batch": (C.c_long, [P]),
    "vle_sim_dt": (C.c_double, [P]),
    "vle_sim_errors": (C.c_char_p, [P]),
    "vle_sim_threads": (C.c_int, [P, C.POINTER(C.c_char_p)]),
    "vle_sim_count": (C.c_size_t, [P, C.c_char_p]),
    "vle_sim_get": (C.c_int, [P, C.c_char_p, C.c_void_p, C.c_size_t, E]),
    "vle_sim_set": (C.c_int, [P, C.c_char_p, C.c_void_p, C.c_size_t, E]),
    "vle_sim_grad_sum": (C.c_int, [P, C.c_char_p, C.c_void_p, C.c_size_t, E]),
    "vle_sim_save": (C.c_int, [P, C.c_char_p, E]),
    "vle_sim_load": (C.c_int, [P, C.c_char_p, E]),
    "vle_run_spec_init": (None, [C.POINTER(RunSpec)]),
    "vle_runner_new": (P, [P, C.POINTER(RunSpec), E]),
    "vle_runner_planned": (C.c_int64, [P]),
    "vle_runner_done": (C.c_int64, [P]),
    "vle_runner_nrecords": (C.c_int, [P]),
    "vle_runner_record": (C.c_int, [P, C.c_int, C.POINTER(RecordInfo), E]),
    "vle_runner_bind": (C.c_int, [P, C.c_int, C.c_void_p, E]),
    "vle_runner_step": (C.c_int64, [P, C.c_int64, E]),
    "vle_runner_finish": (C.c_int, [P, E]),
    "vle_runner_free": (None, [P]),
}


def load_library(path=None):
    """libvlert with every function declared and every struct's size checked."""
    lib = C.CDLL(path or find_libvlert())
    for name, (res, args) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    for name, struct in STRUCTS.items():
        theirs = lib.vle_abi_size(name.encode())
        if theirs != C.sizeof(struct):
            raise ImportError("vle: %s is %d bytes in %s but %d in this package: the library "
                              "and the package come from different versions of vle"
                              % (name, theirs, lib._name, C.sizeof(struct)))
    return lib


_lib = None


def lib():
    global _lib
    if _lib is None:
        _lib = load_library(os.environ.get("VLE_LIBVLERT"))
    return _lib
