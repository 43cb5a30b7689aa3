"""bptt with only its NumPy backend: the Cython extension and numba made
unimportable in a child process, which then runs part of the suite. Keeps
the fallback a user gets without a compiler or numba tested on every run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import bptt

HERE = Path(__file__).resolve().parent

BLOCKER = '''
import importlib.abc, sys

class Blocked(importlib.abc.MetaPathFinder):
    """numba and bptt's compiled modules are not installed, as far as imports go."""
    def find_spec(self, name, path=None, target=None):
        if name == "numba" or name.startswith(("numba.", "bptt._cython.")):
            raise ImportError(f"No module named {name!r} (blocked for the NumPy-only run)")
        return None

sys.meta_path.insert(0, Blocked())
'''

CHECK = BLOCKER + '''
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import bptt
said = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
assert len(said) == 1 and "Cython backend is not available" in said[0], said
assert "NumPy (10-60x slower)" in said[0] and "BPTT_NO_CYTHON=1" in said[0], said
assert bptt.backends() == ("numpy",), bptt.backends()
missing = bptt.unavailable()
assert set(missing) == {"cython", "numba"} and all(missing.values()), missing
import numpy as np
layer = bptt.GRU(3, 4, num_layers=2, bidirectional=True)
output, _ = layer.forward(np.ones((5, 2, 3)))
layer.backward(np.ones_like(output))
assert layer.backend == "numpy"
print("numpy-only ok")
'''


def _env(quiet: bool = False) -> dict:
    package_root = str(Path(bptt.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=package_root)
    env.pop("BPTT_NO_CYTHON", None)
    if quiet:  # the suite turns RuntimeWarnings into errors; this run expects no Cython
        env["BPTT_NO_CYTHON"] = "1"
    env.pop("BPTT_REQUIRE_ALL_BACKENDS", None)   # in this child the others are absent
    env.pop("BPTT_BACKEND", None)
    return env


def test_bptt_imports_and_runs_on_numpy_alone():
    result = subprocess.run([sys.executable, "-c", CHECK], env=_env(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "numpy-only ok" in result.stdout


def test_part_of_the_suite_passes_on_numpy_alone():
    files = ["test_layers_torch.py", "test_torch_cells.py", "test_reliability.py",
             "test_torch_modules.py"]
    code = BLOCKER + (
        "import pytest, sys\n"
        f"sys.exit(pytest.main({[str(HERE / f) for f in files]!r} + "
        # torch's gradcheck of the NumPy backend runs in the main suite too,
        # and takes a third of this run's time (most of it one GRU case)
        "['-q', '-p', 'no:cacheprovider', '-x', '-k', 'not gradcheck']))\n")
    result = subprocess.run([sys.executable, "-c", code], env=_env(quiet=True), cwd=HERE,
                            capture_output=True, text=True, timeout=600)
    tail = result.stdout[-3000:]
    assert result.returncode == 0, f"{tail}\n{result.stderr[-2000:]}"
    assert " passed" in tail


def test_bptt_no_cython_silences_the_import_warning():
    code = BLOCKER + (
        "import warnings\n"
        "warnings.simplefilter('error')\n"
        "import bptt\n"
        "assert bptt.backends()[-1] == 'numpy'\n")
    result = subprocess.run([sys.executable, "-c", code], env=_env(quiet=True),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
