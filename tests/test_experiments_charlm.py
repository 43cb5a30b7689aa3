"""``bptt charlm``: the character model's gradients, training on a tiny text,
bit-identical resume (also after Ctrl-C), the text module, and the CLI."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest

import bptt
from bptt.__main__ import main
from bptt.experiments import CharModel, TextStreams, Vocabulary, load_text, shipped_text
from bptt.experiments.charlm import CharLMConfig, train_charlm
from bptt.experiments.charmodel import load_npz

SHARED_TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "origin_of_species.txt"
TINY = "the quick brown fox jumps over the lazy dog. " * 12  # 540 characters
TINY_RUN = {"hidden": 16, "batch": 4, "chunk": 10, "lr": 1e-2, "eval_every": 0,
            "sample_every": 0, "checkpoint_every": 0, "progress": False}


# -- the model ------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["gru", "rnn", "lstm"])
def test_char_model_gradients_match_finite_differences(cell):
    vocab = Vocabulary("abcde")
    model = CharModel(vocab, 4, cell, dtype=np.float64, backend="numpy", seed=1)
    rng = np.random.default_rng(2)
    inputs, targets = rng.integers(0, 5, (6, 3)), rng.integers(0, 5, (6, 3))
    state = tuple(0.5 * rng.standard_normal((1, 3, 4)) for _ in model.initial_state(3))
    model.zero_grad()
    model.loss_and_grad(inputs, targets, state, reduction="sum")
    analytic = {k: g.copy() for k, g in model.grads.items()}
    result = bptt.gradcheck(lambda: model.evaluate(inputs, targets, state,
                                                   reduction="sum")[0],
                            model.parameters(), analytic)
    assert set(result.errors) == set(model.parameters())
    assert result.passed(1e-6), str(result)


def test_char_model_backends_agree():
    vocab = Vocabulary("abcdef")
    rng = np.random.default_rng(0)
    inputs, targets = rng.integers(0, 6, (5, 2)), rng.integers(0, 6, (5, 2))
    results = {}
    for backend in bptt.backends():
        model = CharModel(vocab, 8, "gru", dtype=np.float64, backend=backend, seed=3)
        loss, (h,) = model.loss_and_grad(inputs, targets)
        results[backend] = (loss, h, model.grads["layer.weight_hh_l0"].copy())
    ref = results["numpy"]
    for loss, h, g in results.values():
        assert loss == pytest.approx(ref[0], rel=1e-12)
        np.testing.assert_allclose(h, ref[1], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g, ref[2], rtol=1e-10, atol=1e-12)


def test_char_model_generate_save_load(tmp_path):
    model = CharModel("abc ", 8, "lstm", seed=0)
    greedy = model.generate("ab", 20)
    assert len(greedy) == 20 and set(greedy) <= set("abc ")
    assert model.generate("ab", 20) == greedy  # greedy is deterministic
    a = model.generate("ab", 30, greedy=False, rng=np.random.default_rng(5))
    b = model.generate("ab", 30, greedy=False, rng=np.random.default_rng(5))
    assert a == b
    assert model.generate_batch(["ab", "ca"], 10)[0] == greedy[:10]
    model.save(tmp_path / "m.npz")
    loaded = CharModel.load(tmp_path / "m.npz")
    assert loaded.generate("ab", 20) == greedy
    for name, p in model.parameters().items():
        np.testing.assert_array_equal(loaded.parameters()[name], p)


def test_char_model_forward_needs_backward_in_training_mode():
    model = CharModel("ab", 4, seed=0)
    ids = np.zeros((3, 1), dtype=np.int64)
    model.forward(ids)
    with pytest.raises(ValueError, match="backward"):
        model.forward(ids)
    model.backward(np.zeros((3, 1, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="ids"):
        model.forward(np.full((3, 1), 2))


# -- text -------------------------------------------------------------------------------


def test_vocabulary_round_trip():
    vocab = Vocabulary.from_text(TINY)
    assert vocab.chars == "".join(sorted(set(TINY)))
    assert vocab.decode(vocab.encode(TINY)) == TINY
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode("Z")


def test_text_streams_carry_positions_and_wrap():
    ids = np.arange(50)
    streams = TextStreams(ids, batch=2, chunk=4)  # two streams of 25: 0..24, 25..49
    x, y, reset = streams.next_chunk()
    assert reset
    np.testing.assert_array_equal(x[:, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(x[:, 1], [25, 26, 27, 28])
    np.testing.assert_array_equal(y, x + 1)
    x, y, reset = streams.next_chunk()
    assert not reset and x[0, 0] == 4
    state = streams.state_dict()
    for _ in range(4):
        streams.next_chunk()
    x, _, reset = streams.next_chunk()  # 24 ids used, no room for a chunk plus target
    assert reset and x[0, 0] == 0 and streams.epoch == 1
    streams.load_state_dict(state)
    assert streams.next_chunk()[0][0, 0] == 8


def test_shipped_text_loads():
    text = shipped_text()
    assert text.startswith("ON THE ORIGIN OF SPECIES")
    assert len(text) > 800_000
    assert load_text() == text


@pytest.mark.skipif(not SHARED_TEXT.is_file(), reason="../shared/data is not here")
def test_shipped_text_equals_the_shared_copy():
    with open(SHARED_TEXT, encoding="utf-8", newline="") as f:
        assert shipped_text() == f.read()


# -- training -------------------------------------------------------------------------------


def test_short_run_lowers_the_loss(tmp_path):
    result = train_charlm(text=TINY, out=tmp_path, steps=60, **TINY_RUN)
    losses = json.loads((tmp_path / "result.json").read_text())
    assert losses["held_out_loss"] == result["held_out_loss"]
    _, meta = load_npz(tmp_path / "checkpoint.npz")
    arrays, _ = load_npz(tmp_path)
    train = arrays["history/train_loss"]
    assert train.size == 60 and meta["step"] == 60
    assert np.mean(train[-10:]) < 0.6 * np.mean(train[:5])
    assert result["held_out_loss"] < 0.6 * np.log(len(set(TINY)))
    assert (tmp_path / "loss.png").stat().st_size > 0
    for key in ("chars_per_second", "wall_seconds", "steps", "config"):
        assert key in result


def _final(out: Path):
    arrays, meta = load_npz(out / "checkpoint.npz")
    params = {k: v for k, v in arrays.items() if k.startswith(("model/", "optim/", "state/"))}
    return arrays["history/train_loss"], params, meta


@pytest.mark.parametrize("model", ["gru", "lstm"])
def test_resume_is_bit_identical(tmp_path, model):
    run = {**TINY_RUN, "model": model, "sample_every": 3, "sample_length": 5}
    train_charlm(text=TINY, out=tmp_path / "straight", steps=16, **run)
    train_charlm(text=TINY, out=tmp_path / "split", steps=8, **run)
    train_charlm(text=TINY, out=tmp_path / "split", resume=tmp_path / "split", steps=16,
                 progress=False)
    losses_a, params_a, meta_a = _final(tmp_path / "straight")
    losses_b, params_b, meta_b = _final(tmp_path / "split")
    np.testing.assert_array_equal(losses_a, losses_b)
    assert params_a.keys() == params_b.keys()
    for name in params_a:
        np.testing.assert_array_equal(params_a[name], params_b[name], err_msg=name)
    assert meta_a["streams"] == meta_b["streams"]
    assert meta_a["sample_rng"] == meta_b["sample_rng"]


def test_ctrl_c_saves_a_checkpoint_that_resumes_bit_identically(tmp_path):
    # 4 streams of 128 characters: 12 chunks an epoch, so 30 steps cross two epochs
    train_charlm(text=TINY, out=tmp_path / "straight", steps=30, **TINY_RUN)

    def interrupt(trainer):
        if trainer.step == 11:
            signal.raise_signal(signal.SIGINT)

    result = train_charlm(text=TINY, out=tmp_path / "split", steps=30, on_step=interrupt,
                          **TINY_RUN)
    assert result["status"] == "interrupted" and result["step"] == 11
    assert not (tmp_path / "split" / "result.json").exists()
    train_charlm(text=TINY, resume=tmp_path / "split" / "checkpoint.npz", progress=False)
    losses_a, params_a, _ = _final(tmp_path / "straight")
    losses_b, params_b, _ = _final(tmp_path / "split")
    np.testing.assert_array_equal(losses_a, losses_b)
    for name in params_a:
        np.testing.assert_array_equal(params_a[name], params_b[name], err_msg=name)


def test_resume_refuses_to_change_the_model(tmp_path):
    train_charlm(text=TINY, out=tmp_path, steps=2, **TINY_RUN)
    with pytest.raises(ValueError, match="hidden"):
        train_charlm(text=TINY, resume=tmp_path, hidden=32, progress=False)
    with pytest.raises(ValueError, match="differs"):
        train_charlm(text=TINY + "x", resume=tmp_path, progress=False)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="model"):
        CharLMConfig(model="transformer")
    with pytest.raises(ValueError, match="lr"):
        CharLMConfig(lr=-1.0)


# -- command line ----------------------------------------------------------------------------


def test_charlm_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["charlm", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--text", "--model", "--hidden", "--batch", "--chunk", "--steps", "--lr",
                 "--max-minutes", "--backend", "--dtype", "--sample-every",
                 "--checkpoint-every", "--seed", "--out", "--resume"):
        assert flag in out


def test_charlm_cli_on_a_text_file_then_resume(tmp_path, capsys):
    text = tmp_path / "tiny.txt"
    text.write_text(TINY)
    out = tmp_path / "run"
    common = ["--text", str(text), "--hidden", "12", "--batch", "3", "--chunk", "8",
              "--sample-every", "4", "--checkpoint-every", "3", "--no-progress"]
    assert main(["charlm", *common, "--steps", "5", "--out", str(out), "--model", "rnn",
                 "--dtype", "float64"]) == 0
    printed = capsys.readouterr().out
    assert "sample" in printed and "held-out loss" in printed
    assert main(["charlm", "--resume", str(out), "--steps", "9", "--no-progress"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["steps"] == 9 and result["config"]["model"] == "rnn"
    assert result["config"]["dtype"] == "float64"
    assert main(["charlm", "--resume", str(out), "--hidden", "99"]) == 2
    assert "hidden" in capsys.readouterr().err


def test_min_char_rnn_settings_train(tmp_path):
    """What ``bptt minchar`` needs: a tanh RNN, batch 1, Adagrad, element-wise
    clipping, the loss summed over the chunk."""
    config = CharLMConfig(name="minchar", model="rnn", hidden=20, batch=1, chunk=25, lr=0.1,
                          optimizer="adagrad", clip_norm=None, clip_value=5.0,
                          reduction="sum", steps=60, eval_every=0, sample_every=0,
                          checkpoint_every=0)
    result = train_charlm(config, text=TINY, out=tmp_path, progress=False)
    arrays, meta = load_npz(tmp_path)
    train = arrays["history/train_loss"]  # per character, though the gradient is summed
    assert np.mean(train[-10:]) < 0.7 * np.mean(train[:5])
    assert result["config"]["optimizer"] == "adagrad" and meta["model"]["cell"] == "rnn"


def test_blas_threads_give_bptts_blas_the_threads_and_numpys_one():
    """numpy's and scipy's OpenBLAS copies at N threads each spin against each
    other (charlm --threads 2 ran at half the speed of --threads 1 on 2 cores)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from bptt.experiments.charmodel import blas_threads

    with blas_threads(3):
        counts = {Path(i["filepath"]).parent.name: i["num_threads"]
                  for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}
    if len(counts) < 2:
        pytest.skip(f"one BLAS serves numpy and scipy here: {counts}")
    assert counts.pop("numpy.libs", counts.pop(".dylibs", None)) == 1
    assert set(counts.values()) == {3}
