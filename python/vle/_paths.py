"""Where the vle tools are: vlec and libvlert, next to this package.

Two layouts are known, and environment variables override both:
  installed  PREFIX/lib/python3/dist-packages/vle -> PREFIX/bin/vlec, PREFIX/lib/libvlert.so
  checkout   CHECKOUT/python/vle -> CHECKOUT/build/vlec, CHECKOUT/build/libvlert.so
VLEC names vlec, VLE_LIBVLERT names libvlert.so; VLE_BUILD_DIR names a build directory.
"""
import os
import shutil

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates(rel_installed, rel_build):
    build = os.environ.get("VLE_BUILD_DIR")
    if build:
        yield os.path.join(build, rel_build)
    prefix = os.path.normpath(os.path.join(_HERE, "..", "..", "..", ".."))
    yield os.path.join(prefix, rel_installed)
    yield os.path.join(_HERE, "..", "..", "build", rel_build)


def _find(env, rel_installed, rel_build, what):
    if os.environ.get(env):
        return os.environ[env]
    for c in _candidates(rel_installed, rel_build):
        if os.path.exists(c):
            return os.path.normpath(c)
    raise FileNotFoundError("vle: cannot find %s (looked next to the package: %s); set %s"
                            % (what, ", ".join(_candidates(rel_installed, rel_build)), env))


def find_libvlert():
    return _find("VLE_LIBVLERT", os.path.join("lib", "libvlert.so"), "libvlert.so", "libvlert.so")


def find_vlec():
    try:
        return _find("VLEC", os.path.join("bin", "vlec"), "vlec", "vlec")
    except FileNotFoundError:
        found = shutil.which("vlec")
        if found:
            return found
        raise
