"""bptt.torch's cells against torch.nn's cells (and GRU_Cell against bptt's
own NumPy GRU_Cell), on the same weights: one step, then a short streaming
loop, outputs and every gradient."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import bptt  # noqa: E402
import bptt.torch as bt  # noqa: E402
from conftest import TOLERANCE, assert_close  # noqa: E402

I, H, B = 4, 5, 3

CELLS = {
    "gru": (bt.GRUCell, torch.nn.GRUCell, {}),
    "rnn_tanh": (bt.RNNCell, torch.nn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (bt.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (bt.LSTMCell, torch.nn.LSTMCell, {}),
}


def _states(kind, batched, dtype, generator, given):
    if not given:
        return None
    shape = (B, H) if batched else (H,)
    h = torch.randn(shape, dtype=dtype, generator=generator).requires_grad_()
    if kind != "lstm":
        return h
    return (h, torch.randn(shape, dtype=dtype, generator=generator).requires_grad_())


def _leaves(hx):
    return [] if hx is None else list(hx) if isinstance(hx, tuple) else [hx]


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("given", [True, False], ids=["hx", "nohx"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_cell_streaming_equals_torch(kind, batched, given, bias, backend, dtype):
    """Four steps, each state fed to the next: outputs and gradients of x, hx
    and the parameters, accumulated over the steps."""
    ours_cls, torch_cls, extra = CELLS[kind]
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    reference = torch_cls(I, H, bias=bias, dtype=tdtype, **extra)
    ours = ours_cls(I, H, bias=bias, dtype=tdtype, backend=backend, **extra)
    ours.load_state_dict(reference.state_dict())
    results = []
    for module in (reference, ours):
        g = torch.Generator().manual_seed(3)
        xs = [torch.randn((B, I) if batched else (I,), dtype=tdtype, generator=g)
              .requires_grad_() for _ in range(4)]
        hx = _states(kind, batched, tdtype, g, given)
        state, outputs = hx, []
        for x in xs:
            state = module(x, state)
            outputs += _leaves(state)
        w = torch.Generator().manual_seed(8)
        loss = sum((o * torch.randn(o.shape, dtype=tdtype, generator=w)).sum() for o in outputs)
        loss.backward()
        results.append(([o.detach() for o in outputs], [x.grad for x in xs],
                        [s.grad for s in _leaves(hx)],
                        {n: p.grad for n, p in module.named_parameters()}))
    tol = TOLERANCE[np.dtype(dtype)]
    (o_t, dx_t, dh_t, dw_t), (o_b, dx_b, dh_b, dw_b) = results
    for name, ours_list, torch_list in (("output", o_b, o_t), ("dx", dx_b, dx_t),
                                        ("dhx", dh_b, dh_t)):
        for k, (a, b) in enumerate(zip(ours_list, torch_list, strict=True)):
            assert a.shape == b.shape
            assert_close(a.numpy(), b.numpy(), tol, f"{name} {k}")
    assert list(dw_b) == list(dw_t)
    for name in dw_t:
        assert_close(dw_b[name].numpy(), dw_t[name].numpy(), tol, f"d{name}")


@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_gru_cell_seed_equals_bptt_numpy_cell(bias, batched, backend):
    """bptt.torch.GRU_Cell against bptt.GRU_Cell (NumPy backend), the seed's
    homework cell, and its torch-operator fallback against both."""
    torch.manual_seed(0)
    ours = bt.GRU_Cell(I, H, bias=bias, backend=backend, dtype=torch.float64)
    cell = bptt.GRU_Cell(I, H, bias=bias, backend="numpy")
    cell.load_state_dict(ours.state_dict())      # the same names both ways
    g = torch.Generator().manual_seed(1)
    x = torch.randn((B, I) if batched else (I,), dtype=torch.float64, generator=g)
    h = torch.randn((B, H) if batched else (H,), dtype=torch.float64, generator=g)
    x.requires_grad_()
    h.requires_grad_()
    h_next = ours(x, h)
    delta = torch.randn(h_next.shape, dtype=torch.float64, generator=g)
    (h_next * delta).sum().backward()
    expected = cell.forward(x.detach().numpy(), h.detach().numpy())
    dx, dh = cell.backward(delta.numpy())
    assert_close(h_next.detach().numpy(), expected, 1e-12, "h'")
    assert_close(x.grad.numpy(), dx.reshape(x.shape), 1e-12, "dx")
    assert_close(h.grad.numpy(), dh.reshape(h.shape), 1e-12, "dh")
    assert [n for n, _ in ours.named_parameters()] == list(cell.parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad.numpy(), cell.grads[name], 1e-12, f"d{name}")
    fallback = ours._reference(x, h)
    assert_close(fallback.detach().numpy(), expected, 1e-12, "fallback h'")


def test_streaming_overwrite_of_state_is_caught():
    """The streaming loop that writes the new state into the old buffer
    before backward gets torch's in-place error, not a wrong gradient."""
    cell = bt.GRUCell(I, H, dtype=torch.float64)
    x = torch.randn(B, I, dtype=torch.float64)
    h = torch.zeros(B, H, dtype=torch.float64, requires_grad=True).clone()
    h_next = cell(x, h)
    with torch.no_grad():
        h.copy_(h_next)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        h_next.sum().backward()


def test_no_grad_step_keeps_nothing_and_matches():
    cell = bt.LSTMCell(I, H)
    x = torch.randn(B, I)
    with torch.no_grad():
        h, c = cell(x)
    reference = torch.nn.LSTMCell(I, H)
    reference.load_state_dict(cell.state_dict())
    with torch.no_grad():
        h_t, c_t = reference(x)
    assert h.grad_fn is None
    assert_close(h.numpy(), h_t.numpy(), TOLERANCE[np.dtype(np.float32)], "h")
    assert_close(c.numpy(), c_t.numpy(), TOLERANCE[np.dtype(np.float32)], "c")
    assert cell._bptt_engines and all(e.model._cache is None
                                      for e in cell._bptt_engines.values())
