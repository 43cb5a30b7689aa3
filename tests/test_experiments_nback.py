"""``bptt nback`` (seed 002): the default run reaches J < 0.05 and writes its
files; the gradients agree with finite differences and with torch autograd
on the seed's own equations; the n-back targets; the command line."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bptt
from _fd import numeric_gradient, relative_error
from bptt.__main__ import build_parser, main
from bptt.experiments import nback
from bptt.experiments.nback import (
    loss_and_gradients,
    make_model,
    nback_data,
    run_nback,
    seed_parameters,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _model_and_data(backend: str, seed: int = 3, length: int = 12, n: int = 2):
    rng = np.random.default_rng(seed)
    rnn, readout = make_model(rng, backend)
    # larger weights than the init, so tanh is well away from linear
    for p in seed_parameters(rnn, readout).values():
        p *= 3
    x, y = nback_data(length, n, rng)
    return rnn, readout, x, y


# -- the default run -----------------------------------------------------------


def test_default_run_reaches_target_and_writes_files(tmp_path):
    result = run_nback(out=tmp_path, progress=False, verbose=False)
    assert result["reached"] and result["final_loss"] < 0.05
    assert result["iterations"] == len(result["loss_history"]) - 1
    assert result["loss_history"][-1] == result["final_loss"]
    assert result["loss_history"][0] > 1  # it really had to learn
    assert max(result["gradcheck"].values()) < 1e-6
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG_MAGIC
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["final_loss"] < 0.05
    for key in ("n", "length", "lr", "max_iterations", "target_loss", "seed", "iterations",
                "seconds", "gradcheck"):
        assert key in saved, key
    assert (saved["n"], saved["length"], saved["seed"]) == (2, 50, 0)
    assert set(saved["gradcheck"]) == {"U", "V", "w"}


@pytest.mark.parametrize("seed", [1, 2])
def test_other_seeds_reach_target(seed):
    result = run_nback(seed=seed, progress=False, verbose=False)
    assert result["reached"], result["final_loss"]


def test_cli_prints_gradcheck_and_falling_loss(tmp_path, capsys):
    assert main(["nback", "--out", str(tmp_path), "--no-progress", "--print-every", "1"]) == 0
    out = capsys.readouterr().out
    assert "dJ/dU" in out and "dJ/dV" in out and "dJ/dw" in out
    numbers = [float(line) for line in out.splitlines() if line.strip()[:1].isdigit()]
    saved = json.loads((tmp_path / "result.json").read_text())
    assert len(numbers) == saved["iterations"] + 1  # one J per line, every iteration
    assert numbers[-1] < 0.05 < numbers[0]
    assert (tmp_path / "loss.png").exists()


def test_progress_bar_on_long_runs(monkeypatch, capsys):
    monkeypatch.setattr(nback, "PROGRESS_AFTER", 0.0)  # every run counts as long
    result = run_nback(iterations=20, target_loss=0.0, progress=True, print_every=5)
    captured = capsys.readouterr()
    assert "20/20" in captured.err  # the tqdm bar, on stderr
    numbers = [line for line in captured.out.splitlines() if line[:1].isdigit()]
    assert len(numbers) == 5  # J at 0, 5, 10, 15, 20, written above the bar
    assert result["iterations"] == 20 and not result["reached"]


def test_divergence_stops_the_run_and_is_reported(tmp_path):
    result = run_nback(lr=1.0, iterations=300, out=tmp_path, progress=False, verbose=False)
    assert result["diverged"] and not result["reached"]
    assert result["iterations"] < 300
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["diverged"] is True
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG_MAGIC
    assert main(["nback", "--lr", "1", "--out", str(tmp_path), "--no-progress"]) == 1


# -- gradients -------------------------------------------------------------------


def test_gradients_match_finite_differences(backend):
    rnn, readout, x, y = _model_and_data(backend)
    _, analytic = loss_and_gradients(rnn, readout, x, y)
    analytic = {k: g.copy() for k, g in analytic.items()}

    def J():
        return nback.loss(rnn, readout, x, y)

    for name, param in seed_parameters(rnn, readout).items():
        err = relative_error(numeric_gradient(J, param), analytic[name])
        assert err <= 1e-7, f"dJ/d{name}: relative error {err:.2e}"


def _seed_002_torch(U, V, w, x, y):
    """Seed 002 written out in torch: z_t = U h_{t-1} + V x_t, h_t = tanh(z_t),
    y_hat_t = h_t . w, h_0 = 0, J = sum_t 1/2 (y_hat_t - y_t)^2."""
    import torch

    h = torch.zeros(U.shape[0], dtype=torch.float64)
    J = torch.zeros((), dtype=torch.float64)
    for t in range(x.shape[0]):
        h = torch.tanh(U @ h + V @ x[t])
        J = J + 0.5 * (h @ w - y[t]) ** 2
    return J


def test_gradients_match_torch_autograd(backend):
    torch = pytest.importorskip("torch")
    rnn, readout, x, y = _model_and_data(backend, length=20)
    J, grads = loss_and_gradients(rnn, readout, x, y)
    params = seed_parameters(rnn, readout)
    U = torch.tensor(params["U"], requires_grad=True)
    V = torch.tensor(params["V"], requires_grad=True)
    w = torch.tensor(params["w"][0], requires_grad=True)  # the seed's w is a vector
    J_torch = _seed_002_torch(U, V, w, torch.tensor(x), torch.tensor(y[:, 0]))
    J_torch.backward()
    assert abs(J - J_torch.item()) <= 1e-10 * abs(J_torch.item())
    expected = {"U": U.grad.numpy(), "V": V.grad.numpy(), "w": w.grad.numpy()[None, :]}
    for name, g in expected.items():
        err = np.max(np.abs(grads[name] - g)) / np.max(np.abs(g))
        assert err <= 1e-10, f"dJ/d{name}: relative difference {err:.2e}"


def test_refuses_to_train_when_gradients_are_wrong(tmp_path, monkeypatch):
    right = nback.loss_and_gradients

    def wrong(*args):
        J, grads = right(*args)
        grads["U"] *= 0.5
        return J, grads

    monkeypatch.setattr(nback, "loss_and_gradients", wrong)
    with pytest.raises(RuntimeError, match="refusing to train"):
        run_nback(out=tmp_path / "run", progress=False, verbose=False)
    assert not (tmp_path / "run").exists()


# -- data -------------------------------------------------------------------------


def test_two_back_targets():
    x, y = nback_data(40, 2, np.random.default_rng(0))
    assert x.shape == y.shape == (40, 1) and x.dtype == y.dtype == np.float64
    assert set(np.unique(x)) == {0.0, 1.0}
    assert np.all(y[:2] == 0)
    for t in range(2, 40):
        assert y[t, 0] == x[t - 2, 0]


@pytest.mark.parametrize("n", [0, 1, 3, 7])
def test_n_back_targets(n):
    x, y = nback_data(15, n, np.random.default_rng(n))
    assert np.all(y[:n] == 0)
    np.testing.assert_array_equal(y[n:], x[: 15 - n])


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="n must"):
        nback_data(5, 5)
    with pytest.raises(ValueError, match="smaller than length"):
        run_nback(n=4, length=4, progress=False, verbose=False)
    with pytest.raises(ValueError, match="iterations"):
        run_nback(iterations=-1, progress=False, verbose=False)


# -- command line -----------------------------------------------------------------


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["nback", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--seed", "--out", "--n", "--length", "--lr", "--iterations", "--target-loss"):
        assert flag in out, flag


def test_help_in_a_subprocess():
    env = dict(os.environ)
    src = str(Path(bptt.__file__).resolve().parent.parent)  # where this bptt was imported from
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "bptt", "nback", "--help"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--target-loss" in done.stdout


def test_parser_defaults_are_the_function_defaults():
    args = build_parser().parse_args(["nback"])
    defaults = inspect.signature(run_nback).parameters
    for name in ("n", "length", "lr", "iterations", "target_loss", "seed", "print_every"):
        assert getattr(args, name) == defaults[name].default, name


def _without(monkeypatch, *modules):
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # import <module> now fails


def test_trains_without_matplotlib_and_tqdm(tmp_path, monkeypatch, capsys):
    _without(monkeypatch, "matplotlib", "tqdm")
    monkeypatch.setattr(nback, "PROGRESS_AFTER", 0.0)  # every run counts as long
    assert main(["nback", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["reached"] and saved["final_loss"] < 0.05
    assert not (tmp_path / "loss.png").exists()
    notes = [line for line in captured.err.splitlines() if "note:" in line]
    assert len(notes) == 2  # one for each missing package, not one per iteration
    for module, note in zip(("tqdm", "matplotlib"), notes, strict=True):
        assert module in note and 'pip install "bptt[all]"' in note, note
    # plain progress lines instead of the bar, on stderr; stdout is still the list of J
    progress = [line for line in captured.err.splitlines() if line.startswith("iteration ")]
    assert progress[-1].startswith(f"iteration {saved['iterations']}/5000")
    assert "wrote " + str(tmp_path / "result.json") in captured.out
    assert "loss.png" not in captured.out


def test_missing_matplotlib_only_skips_the_plot(tmp_path, monkeypatch, capsys):
    _without(monkeypatch, "matplotlib")
    result = run_nback(out=tmp_path, progress=False, verbose=False)
    assert result["reached"]
    assert json.loads((tmp_path / "result.json").read_text())["final_loss"] < 0.05
    assert not (tmp_path / "loss.png").exists()
    err = capsys.readouterr().err
    assert "matplotlib is not installed, so there is no loss.png" in err
    assert "tqdm" not in err
