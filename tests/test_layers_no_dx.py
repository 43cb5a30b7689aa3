"""A backward that leaves dL/dx out (``_backward(..., want_dx=False)``): what
CharModel runs on its one-hot input, and what bptt.torch runs for an input
that needs no gradient. The kernels skip the dx product (they are handed a dx
of no steps), and everything else must be the bits of the full backward:
every parameter gradient and initial-state gradient, on every backend, for
stacked, bidirectional, padded, unbatched and row-split calls; the layers
above the first still pass their dx down.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bptt
import bptt.torch
from _layers import Config, draw, forward, make_layer
from conftest import Counter

CASES = [
    Config("gru", num_layers=2, bidirectional=True, batch=3, T=6, lengths=(6, 2, 5)),
    Config("gru_seed", batch=None, T=5),
    Config("rnn_tanh", num_layers=3, batch=2, T=4, d_h_n=False),
    Config("lstm", num_layers=2, bidirectional=True, batch_first=True, batch=4, T=7),
    Config("lstm", batch=1, T=9, input_size=5, hidden_size=6),   # Cython's one-row loop
]


def _finals(layer, data):
    if isinstance(layer, bptt.LSTM):
        return [("d_h_n", data["g_h"]), ("d_c_n", data["g_c"])]
    return [("d_h_n", data["g_h"])]


def _assert_full_and_no_dx_agree(layer, data, after_forward=lambda layer: None):
    """A full backward, then one without dx (``after_forward(layer)`` between
    each forward and its backward): dx None only in the second, every other
    result the same bits, every parameter gradient nonzero."""
    results = []
    for want_dx in (True, False):
        layer.zero_grad()
        forward(layer, data)
        after_forward(layer)
        dx, d_states = layer._backward(data["g_out"], _finals(layer, data), want_dx=want_dx)
        results.append((dx, d_states, {k: g.copy() for k, g in layer.grads.items()}))
    (dx, d_states, grads), (no_dx, d_states_no_dx, grads_no_dx) = results
    assert dx is not None and no_dx is None
    for a, b in zip(d_states, d_states_no_dx, strict=True):
        np.testing.assert_array_equal(a, b)
    assert grads.keys() == grads_no_dx.keys()
    for name in grads:
        np.testing.assert_array_equal(grads_no_dx[name], grads[name], err_msg=name)
        assert np.any(grads[name] != 0), name


@pytest.mark.parametrize("cfg", CASES, ids=[c.id for c in CASES])
def test_no_dx_gives_the_full_backwards_other_bits(cfg, backend, dtype):
    layer = make_layer(cfg, backend=backend, dtype=dtype, seed=1)
    _assert_full_and_no_dx_agree(layer, draw(np.random.default_rng(2), cfg, dtype))


def test_the_short_path_leaves_dx_out_too(backend):
    # one layer, one direction, no lengths: the short path
    cfg = Config("lstm", batch=8, T=6, input_size=3, hidden_size=5)
    data = draw(np.random.default_rng(3), cfg, np.float64)
    layer = make_layer(cfg, backend=backend, seed=4)
    layer._simple_backward = Counter(layer._simple_backward)
    _assert_full_and_no_dx_agree(layer, data)
    assert layer._simple_backward.taken == 2


@pytest.fixture
def two_threads():
    bptt.set_num_threads(2)
    yield
    bptt.set_num_threads(None)


def test_rows_split_across_threads_leave_dx_out_too(backend, two_threads):
    cfg = Config("gru", num_layers=2, batch=16, T=200, input_size=11, hidden_size=16)
    data = draw(np.random.default_rng(6), cfg, np.float64)
    layer = make_layer(cfg, backend=backend, seed=7)

    def split(layer):
        assert layer._caches[-1].parts, "the call's rows were not split"

    _assert_full_and_no_dx_agree(layer, data, split)


def test_a_kernel_handed_no_dx_steps_writes_nothing_there(backend):
    # the kernels' convention itself: dx of shape (0, B, I) is not written,
    # the rest as usual
    family = bptt.get_backend(backend).family("gru")
    rng = np.random.default_rng(5)
    T, B, I, H = 4, 2, 3, 5
    x = rng.standard_normal((T, B, I))
    weights = (rng.standard_normal((3 * H, I)), rng.standard_normal((3 * H, H)),
               rng.standard_normal(3 * H), rng.standard_normal(3 * H))
    lengths = np.full(B, T, dtype=np.int64)
    lengths.flags.writeable = False
    states, gates = (np.empty((T + 1, B, H)),), np.empty((T, B, 4 * H))
    family.seq_forward(np.empty((T, B, H)), (np.empty((B, H)),), states, gates, x,
                       (rng.standard_normal((B, H)),), *weights, (), lengths, False, 0.0)
    doutput = rng.standard_normal((T, B, H))
    # the empty dx is a view at the start of a filled buffer: a kernel that
    # wrote dx anyway would change the buffer instead of passing unseen
    guard = np.full((T, B, I), 7.0)
    out = []
    for dx in (np.empty((T, B, I)), guard[:0]):
        grads = [np.zeros_like(w) for w in weights]
        dinitial = (np.empty((B, H)),)
        family.seq_backward(dx, dinitial, *grads, (), doutput, (np.zeros((B, H)),), gates,
                            states, x, weights[0], weights[1], (), lengths, False, 0.0)
        out.append((dinitial, grads))
    assert np.all(guard == 7.0)
    for a, b in zip(out[0][0] + tuple(out[0][1]), out[1][0] + tuple(out[1][1]), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("needs_grad", [False, True])
def test_bptt_torch_asks_for_dx_only_when_the_input_needs_it(needs_grad, compiled_backend):
    torch.manual_seed(0)
    layer = bptt.torch.LSTM(3, 4, num_layers=2, backend=compiled_backend).double()
    reference = torch.nn.LSTM(3, 4, num_layers=2).double()
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    x_layer = x.clone().requires_grad_(needs_grad)
    x_reference = x.clone().requires_grad_(needs_grad)
    asked = []
    model = layer._engine(np.float64).model
    run_backward = model._run_backward

    def spy(*args, want_dx=True, **kwargs):
        asked.append(want_dx)
        return run_backward(*args, want_dx=want_dx, **kwargs)

    model._run_backward = spy
    output, _ = layer(x_layer)
    expected, _ = reference(x_reference)
    g = torch.randn_like(output)
    (output * g).sum().backward()
    (expected * g).sum().backward()
    assert asked == [needs_grad]
    for (name, p), q in zip(layer.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12, msg=name)
    if needs_grad:
        torch.testing.assert_close(x_layer.grad, x_reference.grad, rtol=1e-10, atol=1e-12)
    else:
        assert x_layer.grad is None
