"""``bptt.experiments`` as a package: every experiment's function is importable
from it, importing it pulls in none of the optional extras, and every
subcommand's ``--help`` reads as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import bptt
import bptt.experiments
from bptt.__main__ import main
from bptt.experiments import COMMANDS

RUN_FUNCTIONS = {"demo": "run_demo", "nback": "run_nback", "params": "parameter_counts",
                 "charlm": "train_charlm", "match": "run_match", "minchar": "run_minchar",
                 "bench": "run_bench"}


def test_every_experiment_function_is_exported():
    assert set(RUN_FUNCTIONS) == set(COMMANDS)
    for command, name in RUN_FUNCTIONS.items():
        assert name in bptt.experiments.__all__, name
        function = getattr(bptt.experiments, name)
        assert callable(function)
        assert function.__module__ == f"bptt.experiments.{command}", name
    for name in bptt.experiments.__all__:
        assert hasattr(bptt.experiments, name), name


def test_importing_pulls_in_no_extras():
    # a fresh interpreter: this one has imported torch and maybe matplotlib already
    env = dict(os.environ)
    src = str(Path(bptt.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    code = ("import sys, bptt, bptt.experiments; "
            "print([m for m in ('matplotlib', 'tqdm', 'torch') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_no_doubled_percent_signs(command, capsys):
    # only help= strings are %-formatted; a "%%" anywhere else is printed as it is
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "%%" not in capsys.readouterr().out
