"""Every Python example in README.md runs as written and prints something
a reader can check."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bptt

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if README.exists() else []


@pytest.mark.skipif(not BLOCKS, reason="README.md not found beside tests/")
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path):
    code = BLOCKS[index]
    if "import torch" in code:
        pytest.importorskip("torch")
    # the subprocess imports the same bptt as this one (installed, or a source tree)
    package_root = str(Path(bptt.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, f"README example {index} failed:\n{code}\n{result.stderr}"
    assert result.stdout.strip(), f"README example {index} prints nothing:\n{code}"
