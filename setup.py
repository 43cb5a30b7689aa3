"""Build script for bptt's optional Cython extension.

Metadata lives in pyproject.toml. The extension modules in csrc/ compile to
``bptt._cython.<family>``, one per cell family, each with the one time loop
csrc/_sequence.pxi included. A failed compile is not a failed install: bptt
then runs on its Numba and NumPy backends, and ``bptt.backends()`` says so.
Set ``BPTT_NO_CYTHON=1`` to skip the extension on purpose.
"""

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

# one extension module per cell family: every csrc/*.pyx not starting with "_"
FAMILIES = sorted(p.stem for p in (Path(__file__).parent / "csrc").glob("*.pyx")
                  if not p.stem.startswith("_"))
# test-only: the element functions of csrc/_vmath.h, for tests/test_vmath.py
MODULES = [*FAMILIES, "_vmath_check"]

# -O3 vectorises the gate loops (csrc/_gates_t.h); -ffp-contract=off keeps
# a * b + c two rounded operations (no fused multiply-add), so every vector
# width and every machine computes the same bits, and the float64 kernels stay
# within 1e-12 of the NumPy reference; -fno-trapping-math lets GCC evaluate
# both sides of the branch-free selects in _vmath.h (it only gives up
# floating-point exception traps, which nothing here uses; values, NaN and inf
# are unchanged). Never -ffast-math: NaN must propagate.
COMPILE_ARGS = ["-O3", "-ffp-contract=off", "-fno-trapping-math"]


class OptionalBuildExt(build_ext):
    """build_ext that reports a compile failure instead of aborting the install."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure is optional
            self._skip(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._skip(exc, ext.name)

    @staticmethod
    def _skip(exc, name="the Cython extension"):
        print(
            f"WARNING: bptt could not compile {name} ({exc}); "
            "it will run on its Numba and NumPy backends.",
            file=sys.stderr,
        )


def cython_extensions():
    if os.environ.get("BPTT_NO_CYTHON", "") not in ("", "0"):
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
            extra_compile_args=COMPILE_ARGS,
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


setup(ext_modules=cython_extensions(), cmdclass={"build_ext": OptionalBuildExt})
