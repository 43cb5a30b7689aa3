"""``bptt minchar``: min-char-rnn (seed 004) against an independent NumPy
transcription of its lossFun and training loop, the gradient check, a short
run, Ctrl-C, and the command line (also ``--model lstm``)."""

from __future__ import annotations

import json
import math
import signal

import numpy as np
import pytest

import bptt
from bptt.__main__ import main
from bptt.experiments import CharModel, Vocabulary, run_minchar
from bptt.experiments.minchar import (
    MinCharAdagrad,
    MinCharTrainer,
    check_gradients,
    min_char_init,
    minchar_config,
)

TINY = "the quick brown fox jumps over the lazy dog. " * 12  # 540 characters
# 70 characters: chunks of 25 start at 0 and 25, then the pointer wraps (50 + 26 > 70)
WRAPS = "min-char-rnn reads a text in chunks, carrying h; then it starts again."
FAST = {"progress": False, "sample_every": 0}


# -- min-char-rnn, transcribed from the seed's description ------------------------------


def reference_loss_fun(inputs, targets, hprev, Wxh, Whh, Why, bh, by):
    """min-char-rnn's lossFun: loss, dWxh, dWhh, dWhy, dbh, dby, last h (no clipping)."""
    vocab_size = Wxh.shape[1]
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0.0
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
        ys[t] = Why @ hs[t] + by
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        dWhy += dy @ hs[t].T
        dby += dy
        dh = Why.T @ dy + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        dbh += dhraw
        dWxh += dhraw @ xs[t].T
        dWhh += dhraw @ hs[t - 1].T
        dhnext = Whh.T @ dhraw
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]


def seed_weights(model: CharModel) -> dict[str, np.ndarray]:
    """The bptt model's weights under min-char-rnn's names (copies)."""
    p = model.parameters()
    return {"Wxh": p["layer.weight_ih_l0"].copy(), "Whh": p["layer.weight_hh_l0"].copy(),
            "Why": p["readout.weight"].copy(),
            "bh": (p["layer.bias_ih_l0"] + p["layer.bias_hh_l0"])[:, None],
            "by": p["readout.bias"][:, None].copy()}


def assert_close(actual, expected, name, rtol=1e-10):
    scale = max(float(np.abs(expected).max()), 1e-300)
    err = float(np.abs(np.asarray(actual) - expected).max()) / scale
    assert err <= rtol, f"{name}: max |difference| / max |reference| = {err:.2e}"


@pytest.mark.parametrize("weights", ["min-char-rnn init", "larger, with biases"])
def test_one_chunk_matches_min_char_rnn_loss_fun(weights):
    vocab = Vocabulary.from_text(TINY)
    model = CharModel(vocab, 100, "rnn", dtype=np.float64, seed=0)
    rng = np.random.default_rng(1)
    min_char_init(model, rng)
    if weights != "min-char-rnn init":
        for p in model.parameters().values():
            p[...] = 0.3 * rng.standard_normal(p.shape)
    ids = vocab.encode(TINY)
    inputs, targets = ids[7:32], ids[8:33]
    hprev = np.tanh(rng.standard_normal((100, 1)))
    w = seed_weights(model)
    loss, dWxh, dWhh, dWhy, dbh, dby, h = reference_loss_fun(
        inputs.tolist(), targets.tolist(), hprev, w["Wxh"], w["Whh"], w["Why"], w["bh"],
        w["by"])

    model.zero_grad()
    ours, (h_n,) = model.loss_and_grad(inputs[:, None], targets[:, None],
                                       (hprev.reshape(1, 1, 100),), reduction="sum")
    g = model.grads
    assert ours == pytest.approx(loss, rel=1e-12)
    assert_close(h_n.reshape(100, 1), h, "h")
    assert_close(g["layer.weight_ih_l0"], dWxh, "dWxh")
    assert_close(g["layer.weight_hh_l0"], dWhh, "dWhh")
    assert_close(g["readout.weight"], dWhy, "dWhy")
    assert_close(g["readout.bias"][:, None], dby, "dby")
    assert_close(g["layer.bias_ih_l0"][:, None], dbh, "dbh (bias_ih_l0)")
    assert_close(g["layer.bias_hh_l0"][:, None], dbh, "dbh (bias_hh_l0)")


def test_adagrad_and_clipping_match_min_char_rnn_update():
    linear = bptt.Linear(6, 4, dtype=np.float64, seed=0)
    frozen = linear.parameters()["bias"]
    optimizer = MinCharAdagrad([linear], lr=0.1, frozen=[frozen])
    rng = np.random.default_rng(3)
    weight = linear.parameters()["weight"].copy()
    bias = frozen.copy()
    mem = np.zeros_like(weight)
    for scale in (8.0, 1e-5, 3.0):  # clipped, tiny (eps matters), mixed
        d = scale * rng.standard_normal(weight.shape)
        linear.grads["weight"][...] = d
        linear.grads["bias"][...] = 1.0
        bptt.optim.clip_grad_value([linear], 5.0)
        optimizer.step()
        # min-char-rnn: np.clip(dparam, -5, 5, out=dparam); mem += dparam * dparam;
        # param += -learning_rate * dparam / np.sqrt(mem + 1e-8)
        np.clip(d, -5, 5, out=d)
        mem += d * d
        weight += -0.1 * d / np.sqrt(mem + 1e-8)
        np.testing.assert_allclose(linear.parameters()["weight"], weight, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(frozen, bias)  # a frozen parameter never moves


def test_training_matches_min_char_rnn_loop(tmp_path):
    """Five iterations of MinCharTrainer (the pointer wraps twice) against
    min-char-rnn's main loop, from the same initial weights."""
    config = minchar_config(hidden=30, steps=5, sample_every=0)
    trainer = MinCharTrainer(config, tmp_path, text=WRAPS, progress=False)
    w = seed_weights(trainer.model)
    data, vocab = WRAPS, trainer.vocab
    char_to_ix = {c: i for i, c in enumerate(vocab.chars)}
    seq_length, learning_rate = 25, 0.1
    mem = {k: np.zeros_like(v) for k, v in w.items()}
    n, p = 0, 0
    smooth_loss = -np.log(1.0 / len(vocab)) * seq_length
    while n < 5:
        if p + seq_length + 1 >= len(data) or n == 0:
            hprev = np.zeros((30, 1))
            p = 0
        inputs = [char_to_ix[ch] for ch in data[p : p + seq_length]]
        targets = [char_to_ix[ch] for ch in data[p + 1 : p + seq_length + 1]]
        loss, dWxh, dWhh, dWhy, dbh, dby, hprev = reference_loss_fun(
            inputs, targets, hprev, w["Wxh"], w["Whh"], w["Why"], w["bh"], w["by"])
        grads = {"Wxh": dWxh, "Whh": dWhh, "Why": dWhy, "bh": dbh, "by": dby}
        for dparam in grads.values():
            np.clip(dparam, -5, 5, out=dparam)
        smooth_loss = smooth_loss * 0.999 + loss * 0.001
        for k in w:
            mem[k] += grads[k] * grads[k]
            w[k] += -learning_rate * grads[k] / np.sqrt(mem[k] + 1e-8)
        p += seq_length
        n += 1

    result = trainer.run()
    assert result["steps"] == 5 and trainer.streams.epoch == 2
    ours = seed_weights(trainer.model)
    for k in w:
        assert_close(ours[k], w[k], k)
    np.testing.assert_array_equal(trainer.model.parameters()["layer.bias_hh_l0"], 0)
    assert_close(trainer.state[0].reshape(30, 1), hprev, "h")
    assert trainer.smoothed()[-1] == pytest.approx(smooth_loss, rel=1e-12)


# -- the gradient check -----------------------------------------------------------------------


@pytest.mark.parametrize("model", ["rnn", "lstm"])
def test_gradient_check_errors_are_small(tmp_path, model):
    trainer = MinCharTrainer(minchar_config(model=model), tmp_path, text=TINY, progress=False)
    check = check_gradients(trainer.model, trainer.train_ids)
    assert set(check.errors) == set(trainer.model.parameters())
    assert check.max_error < 1e-6, str(check)


def test_gradient_check_refuses_to_train(tmp_path, capsys):
    with pytest.raises(RuntimeError, match="refusing to train"):
        run_minchar(text=TINY, hidden=16, iterations=5, out=tmp_path, gradcheck_tolerance=1e-30,
                    **FAST)
    assert not (tmp_path / "result.json").exists()
    assert "Wxh" in capsys.readouterr().out  # the errors were printed, by min-char-rnn's names


# -- runs -----------------------------------------------------------------------------------------


def test_short_run_lowers_the_smoothed_loss(tmp_path, capsys):
    result = run_minchar(text=TINY, hidden=32, iterations=400, out=tmp_path, progress=False,
                         sample_every=100, sample_length=30, seed=1)
    printed = capsys.readouterr().out
    start = -math.log(1 / len(set(TINY))) * 25
    assert result["initial_smoothed_loss"] == pytest.approx(start)
    assert result["smoothed_loss"] < 0.85 * start
    assert result["iterations"] == 400 and result["status"] == "completed"
    assert "iter 100, loss: " in printed and "iter 400, loss: " in printed
    saved = json.loads((tmp_path / "result.json").read_text())
    for key in ("smoothed_loss", "iterations", "seconds", "chars_per_second", "gradcheck",
                "sample"):
        assert saved[key] == result[key], key
    assert max(saved["gradcheck"].values()) < 1e-6
    assert len(saved["sample"]) == 30 and set(saved["sample"]) <= set(TINY)
    assert saved["config"]["batch"] == 1 and saved["config"]["chunk"] == 25
    assert (tmp_path / "loss.png").stat().st_size > 0
    model = CharModel.load(tmp_path / "checkpoint.npz")
    assert model.cell == "rnn" and model.hidden_size == 32


def test_ctrl_c_stops_and_still_writes_the_results(tmp_path, monkeypatch):
    report = MinCharTrainer.sample_report

    def interrupt(self):
        signal.raise_signal(signal.SIGINT)  # noted by the trainer, acted on after this step
        return report(self)

    monkeypatch.setattr(MinCharTrainer, "sample_report", interrupt)
    result = run_minchar(text=TINY, hidden=16, iterations=100, out=tmp_path, progress=False,
                         sample_every=7)
    assert result["status"] == "interrupted" and result["iterations"] == 7
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["iterations"] == 7 and saved["smoothed_loss"] == result["smoothed_loss"]
    assert (tmp_path / "loss.png").exists()


def test_charlm_refuses_to_resume_a_minchar_checkpoint(tmp_path):
    run_minchar(text=TINY, hidden=8, iterations=2, out=tmp_path, **FAST)
    with pytest.raises(ValueError, match="not a bptt.charlm"):
        bptt.experiments.train_charlm(text=TINY, resume=tmp_path, progress=False)


# -- command line ---------------------------------------------------------------------------------


def test_minchar_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["minchar", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--text", "--seed", "--out", "--iterations", "--hidden", "--seq-length", "--lr",
                 "--model", "--backend", "--dtype", "--sample-every"):
        assert flag in out


def test_minchar_cli_lstm(tmp_path, capsys):
    text = tmp_path / "input.txt"
    text.write_text(TINY)
    out = tmp_path / "run"
    assert main(["minchar", "--model", "lstm", "--text", str(text), "--hidden", "24",
                 "--iterations", "30", "--sample-every", "10", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "iter 10, loss: " in printed and "iter 30, loss: " in printed
    assert "layer.weight_hh_l0" in printed  # the gradient check's errors
    result = json.loads((out / "result.json").read_text())
    assert result["config"]["model"] == "lstm" and result["iterations"] == 30
    assert result["text"]["source"] == str(text.resolve())
    assert result["smoothed_loss"] < result["initial_smoothed_loss"]
    assert max(result["gradcheck"].values()) < 1e-6
    assert main(["minchar", "--text", str(tmp_path / "missing.txt"), "--out", str(out)]) == 2
