"""Build script for bptt's optional Cython extension.

Metadata lives in pyproject.toml. The extension modules in csrc/ compile to
``bptt._cython.<family>``, one per cell family, each with the one time loop
csrc/_sequence.pxi included. A failed compile is not a failed install: bptt
then runs on its Numba and NumPy backends, and ``bptt.backends()`` says so.
Set ``BPTT_NO_CYTHON=1`` to skip the extension on purpose. A wheel built
without the extension is pure Python (py3-none-any).

``BPTT_RELEASE=1`` (tools/build_wheel.sh, cibuildwheel) builds what users
get: no debug information and no test-only module. See docs/building.md.
"""

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_ext import build_ext


def _flag(name):
    return os.environ.get(name, "") not in ("", "0")


RELEASE = _flag("BPTT_RELEASE")

# one extension module per cell family: every csrc/*.pyx not starting with "_"
FAMILIES = sorted(p.stem for p in (Path(__file__).parent / "csrc").glob("*.pyx")
                  if not p.stem.startswith("_"))
# _vmath_check exposes csrc/_vmath.h's element functions to tests/test_vmath.py
# only: development builds have it, release wheels leave it out
MODULES = FAMILIES if RELEASE else [*FAMILIES, "_vmath_check"]

# Compile flags per compiler (setuptools' compiler_type), chosen in
# OptionalBuildExt.build_extensions, once the compiler is known.
#
# GCC and clang: -O3 vectorises the gate loops (csrc/_gates_t.h);
# -ffp-contract=off keeps a * b + c two rounded operations (no fused
# multiply-add, which GCC otherwise forms wherever the target has FMA: on
# aarch64, in the AVX-512 clones), so every vector width and every machine
# computes the same bits, and the float64 kernels stay within 1e-12 of the
# NumPy reference; -fno-trapping-math lets GCC evaluate both sides of the
# branch-free selects in _vmath.h (it only gives up floating-point exception
# traps, which nothing here uses; values, NaN and inf are unchanged). Never
# -ffast-math: NaN must propagate.
COMPILE_ARGS = ["-O3", "-ffp-contract=off", "-fno-trapping-math"]
# MSVC: /fp:precise is its default, spelled out so that a CL environment
# variable cannot turn on /fp:fast; since Visual Studio 2022 it no longer
# contracts into FMA (and x64 without /arch:AVX2 has no FMA to use).
MSVC_COMPILE_ARGS = ["/O2", "/fp:precise"]
# release builds drop the debug information Python's own CFLAGS ask for (-g):
# it is most of each .so's size and no use to someone who installed a wheel
RELEASE_COMPILE_ARGS = ["-g0"]


def compile_args(compiler_type):
    """The flags for every extension module, for this compiler."""
    if compiler_type == "msvc":
        return list(MSVC_COMPILE_ARGS)
    return COMPILE_ARGS + (RELEASE_COMPILE_ARGS if RELEASE else [])


class OptionalBuildExt(build_ext):
    """build_ext that reports a compile failure instead of aborting the install."""

    def initialize_options(self):
        super().initialize_options()
        self._built = []  # the modules that compiled (or were up to date)

    def finalize_options(self):
        super().finalize_options()
        # the modules are independent: one compiler per core unless told
        # (build_ext -j N); serial on Windows, where the threads would share
        # one lazily set-up MSVC compiler object (untested there)
        if self.parallel is None and os.name != "nt":
            self.parallel = os.cpu_count() or 1

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure is optional
            self._skip(exc)
        if not self._built:
            # nothing compiled: the distribution is pure Python, and says so
            # (PureWheel then tags the wheel py3-none-any)
            self.distribution.ext_modules = []

    def build_extensions(self):
        for ext in self.extensions:
            ext.extra_compile_args = compile_args(self.compiler.compiler_type)
        super().build_extensions()

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._skip(exc, ext.name)
        else:
            self._built.append(ext.name)

    @staticmethod
    def _skip(exc, name="the Cython extension"):
        print(
            f"WARNING: bptt could not compile {name} ({exc}); "
            "it will run on its Numba and NumPy backends.",
            file=sys.stderr,
        )


class PureWheel(bdist_wheel):
    """bdist_wheel that decides pure or platform-specific after the build.

    bdist_wheel decides before building, from the extension list alone, so a
    failed compile would still give a cp3XX-...-linux_x86_64 wheel holding no
    compiled code. Deciding after "build" (which runs before the install step
    and the naming that depend on it) gives py3-none-any instead.
    """

    def run_command(self, command):
        super().run_command(command)
        if command == "build":
            self.root_is_pure = not self.distribution.has_ext_modules()


def cython_extensions():
    if _flag("BPTT_NO_CYTHON"):
        print("BPTT_NO_CYTHON is set: skipping the Cython extension.", file=sys.stderr)
        return []
    try:
        import numpy
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError as exc:
        print(f"WARNING: cannot cythonize ({exc}); skipping the Cython extension.", file=sys.stderr)
        return []
    here = Path(__file__).parent
    extensions = [
        Extension(
            f"bptt._cython.{name}",
            [str(Path("csrc") / f"{name}.pyx")],
            depends=[str(Path("csrc") / h) for h in ("_vmath.h", "_gates.h", "_gates_t.h",
                                                     "_panel.h", "_sequence.pxi")],
            include_dirs=[numpy.get_include(), str(here / "csrc")],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        )
        for name in MODULES
    ]
    try:
        return cythonize(
            extensions,
            include_path=[str(here / "csrc")],
            compiler_directives={
                "language_level": 3,
                "boundscheck": False,
                "wraparound": False,
                "initializedcheck": False,
                "cdivision": True,
            },
        )
    except Exception as exc:  # noqa: BLE001
        print(f"WARNING: cythonize failed ({exc}); skipping the Cython extension.", file=sys.stderr)
        return []


setup(
    ext_modules=cython_extensions(),
    cmdclass={"build_ext": OptionalBuildExt, "bdist_wheel": PureWheel},
)
