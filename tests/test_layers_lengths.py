"""Variable lengths and streaming: packed-sequence semantics and chunked == whole.

- ``lengths`` against torch.nn.utils.rnn.pack_padded_sequence(...,
  enforce_sorted=False) / pad_packed_sequence(total_length=T): output (zeros
  past each length), h_n (c_n), dx, dh0 (dc0), every parameter gradient; the
  seed GRU and the sigmoid RNN against the masked loop reference;
- padding is never read: NaN there (in x, or in d_output) changes nothing;
- streaming: h_n fed back as h0 chunk by chunk equals one long call, and
  backward over the chunks in reverse order (LIFO) with dh0 carried into the
  previous chunk's d_h_n equals one long backward; without the carry
  (truncated BPTT) each chunk's gradient is that of a standalone call with
  d_h_n=None.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _layers import (
    KINDS,
    TORCH_KINDS,
    Config,
    assert_results_close,
    backward,
    draw,
    forward,
    make_layer,
    make_pair,
    param_grads,
    reference,
    run,
    valid_mask,
)
from conftest import assert_close

LENGTHS = [
    (1, 6, 3, 6, 2),  # unsorted, both extremes
    (6, 1),
    (1,),  # a batch of one, shorter than T
    (6, 6, 6),  # all full: the same as no lengths
]
LAYOUTS = [  # (num_layers, bidirectional, batch_first)
    (1, False, False),
    (1, True, True),
    (2, True, False),
    (3, True, True),
    (2, False, True),
]

PACKED = [
    Config(kind, num_layers=L, bidirectional=bi, batch_first=bf, batch=len(lengths), T=6,
           lengths=lengths, bias=(i % 2 == 0), h0=(i % 3 != 1), d_h_n=(i % 4 != 3))
    for kind in KINDS
    for i, ((L, bi, bf), lengths) in enumerate(
        [(layout, lengths) for layout in LAYOUTS for lengths in LENGTHS[:2]]
        + [(LAYOUTS[2], LENGTHS[2]), (LAYOUTS[3], LENGTHS[3])]
    )
]


@pytest.mark.parametrize("cfg", PACKED, ids=[c.id for c in PACKED])
def test_lengths_match_packed_sequences(cfg):
    """Torch kinds against pack_padded_sequence; seed GRU, sigmoid RNN against the loop."""
    if cfg.kind in TORCH_KINDS:
        layer, torch_layer = make_pair(cfg, seed=len(cfg.lengths))
    else:
        layer, torch_layer = make_layer(cfg, seed=len(cfg.lengths)), None
    data = draw(np.random.default_rng(cfg.num_layers), cfg)
    actual = run(layer, data)
    assert_results_close(actual, reference(cfg, layer, data, torch_layer), np.float64, cfg.id)
    padding = ~valid_mask(cfg)
    assert not actual["output"][padding].any(), "output must be zero past each length"
    assert not actual["dx"][padding].any(), "padded inputs must get zero gradient"


@pytest.mark.parametrize("kind", KINDS)
def test_lengths_on_every_backend(kind, backend, dtype):
    cfg = Config(kind, num_layers=2, bidirectional=True, batch_first=True, batch=4, T=9,
                 lengths=(9, 1, 5, 2))
    if kind in TORCH_KINDS:
        layer, torch_layer = make_pair(cfg, backend=backend, dtype=dtype, seed=2)
    else:
        layer, torch_layer = make_layer(cfg, backend=backend, dtype=dtype, seed=2), None
    data = draw(np.random.default_rng(2), cfg, dtype)
    assert_results_close(run(layer, data), reference(cfg, layer, data, torch_layer), dtype,
                         cfg.id)


@pytest.mark.parametrize("kind", KINDS)
def test_full_lengths_equal_no_lengths(kind, backend):
    cfg = Config(kind, num_layers=2, bidirectional=True, batch=3, T=5)
    layer = make_layer(cfg, backend=backend, seed=4)
    data = draw(np.random.default_rng(4), cfg)
    without = run(layer, data)
    with_lengths = run(layer, {**data, "lengths": np.array([5, 5, 5])})
    for key, value in without.items():
        assert np.array_equal(with_lengths[key], value), key


def _padded_with(data, cfg, fill, keys=("x",)):
    out = dict(data)
    padding = ~valid_mask(cfg)
    for key in keys:
        out[key] = data[key].copy()
        out[key][padding] = fill
    return out


@pytest.mark.parametrize("fill", [np.nan, np.inf, 1e300], ids=["nan", "inf", "huge"])
@pytest.mark.parametrize("kind", KINDS)
def test_padding_is_never_read(kind, fill, backend, dtype):
    """Garbage past each length, in x and in d_output, changes nothing, not even by NaN * 0."""
    cfg = Config(kind, num_layers=2, bidirectional=True, batch_first=False, batch=3, T=6,
                 lengths=(6, 1, 3))
    layer = make_layer(cfg, backend=backend, dtype=dtype, seed=5)
    data = draw(np.random.default_rng(5), cfg, dtype)
    clean = run(layer, _padded_with(data, cfg, 0.0, ("x", "g_out")))
    with np.errstate(over="ignore"):
        dirty_data = _padded_with(data, cfg, fill, ("x", "g_out"))
    dirty = run(layer, dirty_data)
    for key, value in clean.items():
        assert np.array_equal(dirty[key], value), key


@pytest.mark.parametrize("kind", KINDS)
def test_lengths_as_list_tuple_and_tensor(kind):
    cfg = Config(kind, batch=3, T=4, lengths=(4, 1, 2))
    layer = make_layer(cfg, seed=6)
    data = draw(np.random.default_rng(6), cfg)
    expected = forward(layer, data)["output"]
    for lengths in ([4, 1, 2], (4, 1, 2), torch.tensor([4, 1, 2]), np.array([4, 1, 2], np.int32),
                    np.array([4, 1, 2], np.uint8)):
        got = forward(layer, {**data, "lengths": lengths})["output"]
        assert np.array_equal(got, expected), type(lengths)


# -- streaming ---------------------------------------------------------------

STREAMS = [
    Config(kind, num_layers=L, batch_first=bf, batch=B, T=11)
    for kind in KINDS
    for L, bf, B in ((1, False, 3), (3, True, 2), (2, False, None))
]
CHUNKS = (3, 1, 5, 2)  # T = 11


def _split(a, cfg):
    """Split a (..., T, ...) array of the caller's layout into CHUNKS along time."""
    axis = 1 if (cfg.batch_first and cfg.batch is not None) else 0
    return np.split(a, np.cumsum(CHUNKS)[:-1], axis=axis), axis


def _state(result, lstm):
    return (result["h_n"], result["c_n"]) if lstm else result["h_n"]


def _chunk_forward(layer, chunk_x, state, lstm):
    if lstm:
        output, (h_n, c_n) = layer.forward(chunk_x, state)
        return output, (h_n, c_n)
    return layer.forward(chunk_x, state)


def _chunk_backward(layer, d_out, d_state, lstm):
    if lstm:
        d_h, d_c = (None, None) if d_state is None else d_state
        dx, (dh0, dc0) = layer.backward(d_out, d_h, d_c)
        return dx, (dh0, dc0)
    return layer.backward(d_out, d_state)


@pytest.mark.parametrize("cfg", STREAMS, ids=[c.id for c in STREAMS])
def test_streaming_equals_one_long_call(cfg, backend, dtype):
    """h_n fed back as h0 chunk by chunk; backward LIFO with d_h_n carried."""
    lstm = cfg.kind == "lstm"
    layer = make_layer(cfg, backend=backend, dtype=dtype, seed=7)
    data = draw(np.random.default_rng(7), cfg, dtype)
    whole = run(layer, data)
    layer.zero_grad()

    xs, axis = _split(data["x"], cfg)
    g_outs, _ = _split(data["g_out"], cfg)
    state = (data["h0"], data["c0"]) if lstm else data["h0"]
    outputs = []
    for chunk in xs:
        output, state = _chunk_forward(layer, chunk, state, lstm)
        outputs.append(output)
    fwd_tol = {"float64": 1e-12, "float32": 1e-5}[np.dtype(dtype).name]
    assert_close(np.concatenate(outputs, axis), whole["output"], fwd_tol, "output")
    assert_close(state[0] if lstm else state, whole["h_n"], fwd_tol, "h_n")
    if lstm:
        assert_close(state[1], whole["c_n"], fwd_tol, "c_n")

    # backward: the most recent forward first, each chunk's dh0 the next one's d_h_n
    d_state = (data["g_h"], data["g_c"]) if lstm else data["g_h"]
    dxs = []
    for g_out in reversed(g_outs):
        dx, d_state = _chunk_backward(layer, g_out, d_state, lstm)
        dxs.append(dx)
    streamed = {"output": whole["output"], "h_n": whole["h_n"],
                "dx": np.concatenate(dxs[::-1], axis), **param_grads(layer)}
    if lstm:
        streamed.update(c_n=whole["c_n"], dh0=d_state[0], dc0=d_state[1])
    else:
        streamed["dh0"] = d_state
    assert_results_close(streamed, whole, dtype, "streamed backward")
    with pytest.raises(ValueError, match="needs a forward"):
        _chunk_backward(layer, g_outs[0], None, lstm)  # every cache consumed


@pytest.mark.parametrize("cfg", STREAMS, ids=[c.id for c in STREAMS])
def test_truncated_bptt(cfg, backend):
    """No carry between chunks: the gradients of standalone calls with d_h_n=None, summed."""
    lstm = cfg.kind == "lstm"
    layer = make_layer(cfg, backend=backend, seed=8)
    fresh = make_layer(cfg, backend=backend, seed=9)
    fresh.load_state_dict(layer.state_dict())
    data = draw(np.random.default_rng(8), cfg)
    xs, axis = _split(data["x"], cfg)
    g_outs, _ = _split(data["g_out"], cfg)

    state = (data["h0"], data["c0"]) if lstm else data["h0"]
    expected_dx, expected_grads, starts = [], None, []
    for chunk, g_out in zip(xs, g_outs, strict=True):
        starts.append(state)
        chunk_data = {**data, "x": chunk, "g_out": g_out, "g_h": None, "g_c": None,
                      "h0": state[0] if lstm else state, "c0": state[1] if lstm else None}
        result = run(fresh, chunk_data)
        expected_dx.append(result["dx"])
        grads = {k: v for k, v in result.items() if k.startswith("dweight") or
                 k.startswith("dbias")}
        expected_grads = grads if expected_grads is None else {
            k: expected_grads[k] + v for k, v in grads.items()}
        state = _state(result, lstm)

    state = starts[0]
    for chunk in xs:
        _, state = _chunk_forward(layer, chunk, state, lstm)
    dxs = []
    for g_out in reversed(g_outs):
        dx, _ = _chunk_backward(layer, g_out, None, lstm)
        dxs.append(dx)
    assert_close(np.concatenate(dxs[::-1], axis), np.concatenate(expected_dx, axis), 1e-12, "dx")
    got = param_grads(layer)
    for name, value in expected_grads.items():
        assert_close(got[name], value, 1e-10, name)


@pytest.mark.parametrize("kind", TORCH_KINDS)
def test_truncated_bptt_matches_torch_detach(kind):
    """Truncated BPTT as torch users write it: h = h.detach() between chunks."""
    cfg = Config(kind, num_layers=2, batch=3, T=11)
    layer, torch_layer = make_pair(cfg, seed=10)
    data = draw(np.random.default_rng(10), cfg)
    lstm = kind == "lstm"
    xs, _ = _split(data["x"], cfg)
    g_outs, _ = _split(data["g_out"], cfg)

    state = (torch.from_numpy(data["h0"]), torch.from_numpy(data["c0"])) if lstm else \
        torch.from_numpy(data["h0"])
    for chunk, g_out in zip(xs, g_outs, strict=True):
        output, state = torch_layer(torch.from_numpy(chunk), state)
        (output * torch.from_numpy(g_out)).sum().backward()
        state = tuple(s.detach() for s in state) if lstm else state.detach()

    ours = (data["h0"], data["c0"]) if lstm else data["h0"]
    for chunk in xs:
        _, ours = _chunk_forward(layer, chunk, ours, lstm)
    for g_out in reversed(g_outs):
        _chunk_backward(layer, g_out, None, lstm)
    for name, p in torch_layer.named_parameters():
        assert_close(layer.grads[name], p.grad.numpy(), 1e-10, name)


@pytest.mark.parametrize("kind", KINDS)
def test_eval_streams_without_cache(kind, backend):
    """Inference mode: same numbers, no cache kept, so backward refuses."""
    cfg = Config(kind, num_layers=2, batch=2, T=11)
    layer = make_layer(cfg, backend=backend, seed=11)
    data = draw(np.random.default_rng(11), cfg)
    trained = forward(layer, data)
    layer.backward(data["g_out"])  # consume that cache
    layer.eval()
    assert layer.training is False
    lstm = kind == "lstm"
    state = (data["h0"], data["c0"]) if lstm else data["h0"]
    xs, _ = _split(data["x"], cfg)
    outputs = []
    for chunk in xs:
        output, state = _chunk_forward(layer, chunk, state, lstm)
        outputs.append(output)
    assert np.array_equal(np.concatenate(outputs), trained["output"])
    with pytest.raises(ValueError, match="needs a forward"):
        backward(layer, data)
    layer.train()
    forward(layer, data)
    backward(layer, data)  # training mode again: backward works


@pytest.mark.parametrize("kind", KINDS)
def test_caller_reusing_its_input_buffer(kind, backend):
    """Overwriting x after forward (a reused streaming buffer) must not change backward."""
    cfg = Config(kind, num_layers=1, batch=2, T=4, batch_first=False)
    layer = make_layer(cfg, backend=backend, seed=12)
    data = draw(np.random.default_rng(12), cfg)
    expected = run(layer, data)
    buffer = data["x"].copy()
    layer.zero_grad()
    forward(layer, data, x=buffer)
    buffer[...] = 123.0  # the next chunk arrives in the same buffer
    got = {**backward(layer, data), **param_grads(layer)}
    for key, value in got.items():
        assert np.array_equal(value, expected[key]), key
