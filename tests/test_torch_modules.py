"""bptt.torch's sequence layers against torch.nn's, on the same weights.

Each case builds a torch.nn layer, a bptt.torch layer loaded with its state
dict, runs both on the same input (and ``hx``, and dropout masks: the same
``torch.manual_seed`` before each call), back-propagates the same random
weighting of every output, and compares outputs, final states and the
gradients of x, hx and every parameter: float64 to 1e-12, float32 to 1e-5
(relative to the largest value, conftest's ``assert_close``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence  # noqa: E402

import bptt.torch as bt  # noqa: E402
from bptt.torch import _common  # noqa: E402
from conftest import BACKEND_NAMES, TOLERANCE, assert_close, require_backend  # noqa: E402

T, B, I, H, P = 5, 3, 4, 5, 3
LENGTHS = [5, 2, 4]          # unsorted on purpose; sorted: [5, 4, 2]

CLASSES = {"gru": (bt.GRU, torch.nn.GRU, {}), "lstm": (bt.LSTM, torch.nn.LSTM, {}),
           "rnn_tanh": (bt.RNN, torch.nn.RNN, {"nonlinearity": "tanh"}),
           "rnn_relu": (bt.RNN, torch.nn.RNN, {"nonlinearity": "relu"})}


@dataclass(frozen=True)
class Case:
    kind: str
    num_layers: int
    bidirectional: bool
    layout: str          # "batched", "unbatched", "packed", "packed_sorted"
    dtype: str
    batch_first: bool
    bias: bool
    with_hx: bool
    dropout: float
    proj_size: int
    backend: str

    def __str__(self):
        return "-".join([
            self.kind, f"L{self.num_layers}", "bi" if self.bidirectional else "uni",
            self.layout, self.dtype, "bf" if self.batch_first else "tm",
            "bias" if self.bias else "nobias", "hx" if self.with_hx else "nohx",
            f"p{self.dropout}", f"proj{self.proj_size}", self.backend])


def _cases() -> list[Case]:
    """Every kind x layers x directions x input layout x dtype; the other
    options drawn per case from a fixed generator, so each appears often."""
    draw = random.Random(2026)
    cases = []
    for kind in CLASSES:
        for layers in (1, 2, 3):
            for bidirectional in (False, True):
                for layout in ("batched", "unbatched", "packed", "packed_sorted"):
                    for dtype in ("float64", "float32"):
                        cases.append(Case(
                            kind, layers, bidirectional, layout, dtype,
                            batch_first=draw.random() < 0.5, bias=draw.random() < 0.7,
                            with_hx=draw.random() < 0.6,
                            dropout=draw.choice((0.0, 0.4, 0.4, 1.0)) if layers > 1 else 0.0,
                            proj_size=P if kind == "lstm" and draw.random() < 0.4 else 0,
                            backend=BACKEND_NAMES[len(cases) % 3]))
    return cases


CASES = _cases()


@pytest.fixture(autouse=True)
def fresh_warnings():
    """Each test sees bptt.torch's once-per-reason warnings afresh."""
    _common._warned.clear()
    yield
    _common._warned.clear()


def _pair(case: Case):
    ours_cls, torch_cls, extra = CLASSES[case.kind]
    dtype = getattr(torch, case.dtype)
    options = dict(num_layers=case.num_layers, bias=case.bias, batch_first=case.batch_first,
                   dropout=case.dropout, bidirectional=case.bidirectional, dtype=dtype, **extra)
    if case.proj_size:
        options["proj_size"] = case.proj_size
    with pytest.warns(UserWarning) if case.dropout and case.num_layers == 1 else _nothing():
        reference = torch_cls(I, H, **options)
        ours = ours_cls(I, H, backend=case.backend, **options)
    ours.load_state_dict(reference.state_dict())
    return ours, reference


class _nothing:  # noqa: N801 - a do-nothing context manager
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _inputs(case: Case, generator: torch.Generator):
    """x (in the case's layout), hx (or None), as leaves requiring grad."""
    dtype = getattr(torch, case.dtype)
    D = 2 if case.bidirectional else 1
    K = case.proj_size or H
    x = torch.randn(T, B, I, dtype=dtype, generator=generator)
    batched = case.layout != "unbatched"
    rows = (B,) if batched else ()
    hx = None
    if case.with_hx:
        h0 = torch.randn(case.num_layers * D, *rows, K, dtype=dtype, generator=generator)
        hx = h0.requires_grad_()
        if case.kind == "lstm":
            c0 = torch.randn(case.num_layers * D, *rows, H, dtype=dtype, generator=generator)
            hx = (h0, c0.requires_grad_())
    if case.layout == "unbatched":
        leaf = x[:, 0].clone().requires_grad_()
        return leaf, leaf, hx
    if case.layout.startswith("packed"):
        lengths = sorted(LENGTHS, reverse=True) if case.layout == "packed_sorted" else LENGTHS
        leaf = x.clone().requires_grad_()
        packed = pack_padded_sequence(leaf, torch.tensor(lengths),
                                      enforce_sorted=case.layout == "packed_sorted")
        return leaf, packed, hx
    leaf = (x.transpose(0, 1) if case.batch_first else x).contiguous().requires_grad_()
    return leaf, leaf, hx


def _hx_leaves(hx):
    return [] if hx is None else list(hx) if isinstance(hx, tuple) else [hx]


def _run(module, x, hx, seed: int, weights_seed: int):
    """Forward (dropout masks from ``seed``), a random weighting of every
    output, backward; returns the outputs and the loss's gradients."""
    torch.manual_seed(seed)
    output, finals = module(x, hx)
    data = output.data if isinstance(output, PackedSequence) else output
    finals = list(finals) if isinstance(finals, tuple) else [finals]
    g = torch.Generator().manual_seed(weights_seed)
    loss = sum((t * torch.randn(t.shape, dtype=t.dtype, generator=g)).sum()
               for t in [data, *finals])
    loss.backward()
    return [data.detach(), *[f.detach() for f in finals]]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_layer_equals_torch(case):
    require_backend(case.backend)
    ours, reference = _pair(case)
    results = {}
    for name, module in (("torch", reference), ("bptt", ours)):
        leaf, x, hx = _inputs(case, torch.Generator().manual_seed(1))
        outputs = _run(module, x, hx, seed=99, weights_seed=5)
        results[name] = (outputs, leaf.grad, [h.grad for h in _hx_leaves(hx)],
                         {n: p.grad for n, p in module.named_parameters()})
    tol = TOLERANCE[np.dtype(case.dtype)]
    (out_t, dx_t, dhx_t, dw_t), (out_b, dx_b, dhx_b, dw_b) = results["torch"], results["bptt"]
    for k, (a, b) in enumerate(zip(out_b, out_t, strict=True)):
        assert_close(a.numpy(), b.numpy(), tol, f"output {k}")
    assert_close(dx_b.numpy(), dx_t.numpy(), tol, "dx")
    for k, (a, b) in enumerate(zip(dhx_b, dhx_t, strict=True)):
        assert_close(a.numpy(), b.numpy(), tol, f"dhx {k}")
    assert list(dw_b) == list(dw_t)
    for name in dw_t:
        assert_close(dw_b[name].numpy(), dw_t[name].numpy(), tol, f"d{name}")


def test_output_layouts_are_torchs():
    """Shapes, dtypes and the packed structure of each result, as torch's."""
    for case in [c for c in CASES if c.dtype == "float64" and c.backend == "numpy"][:24]:
        ours, reference = _pair(case)
        for module, results in ((reference, []), (ours, [])):
            _, x, hx = _inputs(case, torch.Generator().manual_seed(1))
            torch.manual_seed(3)
            output, finals = module(x, hx)
            results.append(output)
            module._result = (output, finals)
        (o_t, f_t), (o_b, f_b) = reference._result, ours._result
        assert type(o_b) is type(o_t)
        if isinstance(o_t, PackedSequence):
            assert torch.equal(o_b.batch_sizes, o_t.batch_sizes)
            for a, b in ((o_b.sorted_indices, o_t.sorted_indices),
                         (o_b.unsorted_indices, o_t.unsorted_indices)):
                assert (a is None and b is None) or torch.equal(a, b)
            o_b, o_t = o_b.data, o_t.data
        assert o_b.shape == o_t.shape and o_b.dtype == o_t.dtype
        f_b = f_b if isinstance(f_b, tuple) else (f_b,)
        f_t = f_t if isinstance(f_t, tuple) else (f_t,)
        assert [f.shape for f in f_b] == [f.shape for f in f_t]


GRADCHECK = [
    Case("gru", 2, True, "batched", "float64", True, True, True, 0.4, 0, "numpy"),
    Case("gru", 1, False, "packed", "float64", False, False, True, 0.0, 0, "cython"),
    Case("lstm", 2, True, "packed", "float64", False, True, True, 0.3, 0, "numba"),
    Case("lstm", 2, False, "batched", "float64", False, True, True, 0.0, P, "cython"),
    Case("lstm", 1, True, "unbatched", "float64", True, False, True, 0.0, 0, "numpy"),
    Case("rnn_tanh", 3, True, "batched", "float64", False, True, True, 0.5, 0, "cython"),
    Case("rnn_relu", 2, False, "packed_sorted", "float64", True, True, True, 0.0, 0, "numba"),
]


@pytest.mark.parametrize("case", GRADCHECK, ids=str)
def test_gradcheck(case):
    """torch.autograd.gradcheck in float64: x, hx and every parameter at once
    (torch.func.functional_call makes the parameters inputs; the dropout
    masks are the same on every call through a fixed seed)."""
    require_backend(case.backend)
    ours, _ = _pair(case)
    leaf, _, hx = _inputs(case, torch.Generator().manual_seed(4))
    names = [n for n, _ in ours.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in ours.parameters()]
    states = _hx_leaves(hx)
    lengths = LENGTHS if case.layout == "packed" else sorted(LENGTHS, reverse=True)

    def f(x, *rest):
        h = rest[: len(states)]
        weights = dict(zip(names, rest[len(states):], strict=True))
        if case.layout.startswith("packed"):
            x = pack_padded_sequence(x, torch.tensor(lengths),
                                     enforce_sorted=case.layout == "packed_sorted")
        hx_in = (tuple(h) if case.kind == "lstm" else h[0]) if h else None
        torch.manual_seed(11)
        output, finals = torch.func.functional_call(ours, weights, (x, hx_in))
        data = output.data if isinstance(output, PackedSequence) else output
        finals = finals if isinstance(finals, tuple) else (finals,)
        return (data, *finals)

    assert torch.autograd.gradcheck(f, (leaf, *states, *params), eps=1e-6, atol=1e-7)


def test_seed_variant_equals_bptt_and_its_torch_fallback():
    """GRU(variant="seed"): the kernels against bptt's NumPy layer on the same
    weights, and the torch-operator fallback (what CUDA or tracing runs)
    against the kernels."""
    import bptt
    from bptt.torch import _seed

    torch.manual_seed(0)
    ours = bt.GRU(I, H, num_layers=2, bidirectional=True, variant="seed", dtype=torch.float64)
    layer = bptt.GRU(I, H, num_layers=2, bidirectional=True, variant="seed", backend="numpy")
    layer.load_state_dict(ours.state_dict())
    x = torch.randn(T, B, I, dtype=torch.float64)
    h0 = torch.randn(4, B, H, dtype=torch.float64)
    output, h_n = ours(x, h0)
    expected, expected_h = layer.forward(x.numpy(), h0.numpy())
    assert_close(output.detach().numpy(), expected, 1e-12, "output")
    assert_close(h_n.detach().numpy(), expected_h, 1e-12, "h_n")
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False)
    kernels_out, kernels_h = ours(packed, h0)
    fallback_out, fallback_h = _seed.gru_layers(ours, packed, h0)
    assert torch.equal(fallback_out.batch_sizes, kernels_out.batch_sizes)
    assert_close(fallback_out.data.detach().numpy(), kernels_out.data.detach().numpy(), 1e-12)
    assert_close(fallback_h.detach().numpy(), kernels_h.detach().numpy(), 1e-12)
    assert "variant='seed'" in repr(ours)


def test_dropout_masks_are_torchs_and_eval_has_none():
    """With the same seed, training-mode outputs equal torch.nn's (float64, to
    rounding: the same masks), differ from eval mode, and eval mode equals
    torch in eval."""
    torch.manual_seed(0)
    reference = torch.nn.GRU(I, H, num_layers=3, dropout=0.5, dtype=torch.float64)
    ours = bt.GRU(I, H, num_layers=3, dropout=0.5, dtype=torch.float64)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(T, B, I, dtype=torch.float64)
    outs = []
    for module in (reference, ours):
        torch.manual_seed(5)
        outs.append(module(x)[0])
    assert_close(outs[1].detach().numpy(), outs[0].detach().numpy(), 1e-12)
    ours.eval()
    reference.eval()
    evaluated = ours(x)[0]
    assert not torch.allclose(evaluated, outs[1])
    assert_close(evaluated.detach().numpy(), reference(x)[0].detach().numpy(), 1e-12)
