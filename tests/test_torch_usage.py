"""bptt.torch in a torch user's hands: the module protocol (state dicts,
saving, copying, dtype moves, optimizers), a real training loop against
torch.nn's, the fallbacks to torch's implementation, and the edges of
autograd (retain_graph, double backward, in-place changes)."""

from __future__ import annotations

import copy
import io
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import bptt  # noqa: E402
import bptt.torch as bt  # noqa: E402
from bptt.torch import _common  # noqa: E402
from conftest import assert_close  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_warnings():
    _common._warned.clear()
    yield
    _common._warned.clear()


def test_import_bptt_alone_never_imports_torch():
    code = "import bptt, sys; bptt.GRU(2, 3).forward(__import__('numpy').ones((4, 2))); " \
           "assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("make, base", [
    (lambda: bt.GRU(3, 4, 2, bidirectional=True), torch.nn.GRU),
    (lambda: bt.LSTM(3, 4, 2, proj_size=2, dropout=0.1), torch.nn.LSTM),
    (lambda: bt.RNN(3, 4, nonlinearity="relu", batch_first=True), torch.nn.RNN),
    (lambda: bt.GRUCell(3, 4, bias=False), torch.nn.GRUCell),
    (lambda: bt.RNNCell(3, 4), torch.nn.RNNCell),
    (lambda: bt.LSTMCell(3, 4), torch.nn.LSTMCell),
])
def test_module_protocol_is_torchs(make, base):
    """isinstance, parameter names, repr, state dict both ways, torch.save of
    the whole module, deepcopy (a copy that shares nothing), .double()."""
    torch.manual_seed(0)
    ours = make().eval()      # eval: no dropout, so repeated calls agree
    torch.manual_seed(0)
    args = {k: v for k, v in vars(ours).items() if not k.startswith("_")}
    assert isinstance(ours, base)
    reference = _torch_twin(ours, base, args).eval()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in reference.named_parameters()]
    assert repr(ours) == repr(reference)
    reference.load_state_dict(ours.state_dict())
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(5, 2, 3) if not isinstance(ours, torch.nn.RNNCellBase) else torch.randn(2, 3)
    if getattr(ours, "batch_first", False):
        x = x.transpose(0, 1).contiguous()
    first = _first(ours(x))
    buffer = io.BytesIO()
    torch.save(ours, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert type(loaded) is type(ours)
    assert torch.equal(_first(loaded(x)), first)
    twin = copy.deepcopy(ours)
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(2)
    assert torch.equal(_first(ours(x)), first)           # the copy shares no engine or views
    assert not torch.equal(_first(twin(x)), first)
    ours.double()
    reference.double()
    x64 = x.double()
    assert_close(_first(ours(x64)).detach().numpy(), _first(reference(x64)).detach().numpy(),
                 1e-12)


def _first(result):
    while isinstance(result, tuple):
        result = result[0]
    return result


def _torch_twin(ours, base, args):
    if isinstance(ours, torch.nn.RNNCellBase):
        extra = {"nonlinearity": ours.nonlinearity} if base is torch.nn.RNNCell else {}
        return base(ours.input_size, ours.hidden_size, bias=ours.bias, **extra)
    extra = {"nonlinearity": ours.nonlinearity} if base is torch.nn.RNN else {}
    if base is torch.nn.LSTM:
        extra["proj_size"] = ours.proj_size
    return base(ours.input_size, ours.hidden_size, ours.num_layers, bias=ours.bias,
                batch_first=ours.batch_first, dropout=ours.dropout,
                bidirectional=ours.bidirectional, **extra)


def test_optimizer_updates_reach_the_kernels():
    """Parameters change in place under an optimizer and the next call sees
    them: a few SGD steps on bptt and torch stay equal."""
    torch.manual_seed(0)
    reference = torch.nn.LSTM(3, 4, 2, dtype=torch.float64)
    ours = bt.LSTM(3, 4, 2, dtype=torch.float64)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    losses = {}
    for name, module in (("torch", reference), ("bptt", ours)):
        opt = torch.optim.SGD(module.parameters(), lr=0.5)
        losses[name] = []
        for _ in range(4):
            opt.zero_grad()
            loss = module(x)[0].pow(2).sum()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
            losses[name].append(loss.item())
    assert_close(losses["bptt"], losses["torch"], 1e-12)
    assert losses["bptt"][0] != losses["bptt"][-1]


class CharModel(torch.nn.Module):
    """Embedding, a 2-layer GRU with dropout, a linear read-out."""

    def __init__(self, gru_cls, vocab=20, embed=8, hidden=16):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, embed)
        self.gru = gru_cls(embed, hidden, num_layers=2, dropout=0.25, batch_first=True)
        self.out = torch.nn.Linear(hidden, vocab)

    def forward(self, tokens):
        return self.out(self.gru(self.embed(tokens))[0])


def test_training_loop_equals_torch():
    """50 steps of Adam with clip_grad_norm_ and dropout, float64: the same
    loss curve (1e-9 relative at every step) by changing the import alone."""
    g = torch.Generator().manual_seed(0)
    starts = torch.randint(0, 20, (50, 4, 1), generator=g)
    data = (starts + 3 * torch.arange(13)) % 20          # a learnable pattern
    curves = {}
    for name, gru_cls in (("torch", torch.nn.GRU), ("bptt", bt.GRU)):
        torch.manual_seed(1)
        model = CharModel(gru_cls).double()
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        curve = []
        for tokens in data:
            inputs, targets = tokens[:, :-1], tokens[:, 1:]
            logits = model(inputs)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 20), targets.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            curve.append(loss.item())
        curves[name] = np.array(curve)
    assert np.all(np.abs(curves["bptt"] - curves["torch"]) <= 1e-9 * np.abs(curves["torch"]))
    assert curves["bptt"][-1] < curves["bptt"][0]


@pytest.mark.parametrize("cls, node", [(bt.GRU, "GRU"), (bt.LSTM, "LSTM"), (bt.RNN, "RNN")])
def test_onnx_export_traces_torchs_operator(cls, node, tmp_path):
    """Tracing (torch.onnx.export, dynamo=False) runs torch's implementation,
    so the graph holds the standard recurrent node; said once."""
    onnx = pytest.importorskip("onnx")
    model = cls(3, 4, num_layers=2)
    path = tmp_path / "model.onnx"
    with pytest.warns(UserWarning, match="tracing"):
        torch.onnx.export(model, (torch.randn(5, 2, 3),), str(path), dynamo=False)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert node in ops


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_runs_torchs_implementation(dtype):
    torch.manual_seed(0)
    reference = torch.nn.GRU(3, 4, 2, dtype=dtype)
    ours = bt.GRU(3, 4, 2, dtype=dtype)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(5, 2, 3, dtype=dtype)
    with pytest.warns(UserWarning, match=f"dtype {dtype}"):
        output, h_n = ours(x)
    expected, expected_h = reference(x)
    assert torch.equal(output, expected) and torch.equal(h_n, expected_h)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours(x)                                            # once per reason, not per call


def test_mismatched_dtypes_give_torchs_error():
    model = bt.GRU(3, 4)
    with pytest.warns(UserWarning), pytest.raises((RuntimeError, ValueError), match="dtype"):
        model(torch.randn(5, 2, 3, dtype=torch.float64))


def test_retain_graph_backward_twice_equals_torch():
    torch.manual_seed(0)
    reference = torch.nn.GRU(3, 4, 2, bidirectional=True, dtype=torch.float64)
    ours = bt.GRU(3, 4, 2, bidirectional=True, dtype=torch.float64)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    grads = {}
    for name, module in (("torch", reference), ("bptt", ours)):
        loss = module(x)[0].pow(2).sum()
        loss.backward(retain_graph=True)
        loss.backward()
        grads[name] = [p.grad.clone() for p in module.parameters()]
    for a, b in zip(grads["bptt"], grads["torch"], strict=True):
        assert_close(a.numpy(), b.numpy(), 1e-12)


def test_double_backward_raises_a_clear_error():
    model = bt.GRU(3, 4, dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(model(x)[0].sum(), x, create_graph=True)
    cell = bt.GRUCell(3, 4, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(cell(x[0]).pow(2).sum(), x, create_graph=True)


def test_parameters_changed_before_backward_are_caught():
    model = bt.LSTM(3, 4)
    output, _ = model(torch.randn(5, 2, 3))
    with torch.no_grad():
        model.weight_hh_l0.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        output.sum().backward()


def test_bad_input_gets_torchs_checks():
    model = bt.GRU(3, 4)
    with pytest.raises(ValueError, match="2D or 3D"):
        model(torch.randn(2, 5, 2, 3))
    with pytest.raises(RuntimeError, match="input.size"):
        model(torch.randn(5, 2, 7))
    with pytest.raises(RuntimeError, match="Expected hidden size"):
        model(torch.randn(5, 2, 3), torch.zeros(1, 3, 4))
    with pytest.raises(ValueError):
        bt.GRU(3, 4, backend="fortran")
    with pytest.raises(ValueError, match="variant"):
        bt.GRU(3, 4, variant="cudnn")


def test_backend_choice_and_no_grad_inference():
    for name in bptt.backends():
        model = bt.GRU(3, 4, backend=name)
        assert model.backend == name and f"backend='{name}'" in repr(model)
        with torch.no_grad():
            output, _ = model(torch.randn(5, 2, 3))
        assert output.grad_fn is None
        engine = next(iter(model._bptt_engines.values()))
        assert engine.model.backend == name and not engine.model._caches


# -- dropout in bptt's own layers (NumPy API) ---------------------------------------


@pytest.mark.parametrize("cls", [bptt.GRU, bptt.RNN, bptt.LSTM])
def test_bptt_layer_dropout_is_inverted_and_training_only(cls, backend):
    """Masks from the layer's rng: a fraction p of the lower layer's units is
    zeroed and the rest scaled by 1/(1-p); eval mode applies none; the
    backward on the same draw matches central differences (float64)."""
    x = np.random.default_rng(0).standard_normal((6, 3, 2))
    layer = cls(2, 4, num_layers=2, dropout=0.5, backend=backend, seed=1)
    plain = cls(2, 4, num_layers=2, backend=backend, seed=1)
    plain.eval()
    layer.eval()
    assert np.array_equal(layer.forward(x)[0], plain.forward(x)[0])
    layer.train()
    mask = layer._dropout_mask((20000,))
    assert set(np.unique(mask)) == {0.0, 2.0}
    assert abs(np.mean(mask == 0) - 0.5) < 0.02

    def loss(x_value, seed=7):
        layer._rng = np.random.default_rng(seed)
        output, _ = layer.forward(x_value)
        return float((output * weights).sum())

    weights = np.random.default_rng(2).standard_normal((6, 3, 4))
    layer._rng = np.random.default_rng(7)
    output, _ = layer.forward(x)
    layer.zero_grad()
    dx, _ = layer.backward(weights)
    assert not np.array_equal(output, plain.forward(x)[0])
    eps = 1e-6
    for index in [(0, 0, 0), (3, 1, 1), (5, 2, 0)]:
        step = np.zeros_like(x)
        step[index] = eps
        numeric = (loss(x + step) - loss(x - step)) / (2 * eps)
        assert abs(numeric - dx[index]) <= 1e-7 * max(1.0, abs(numeric))


def test_bptt_layer_dropout_arguments():
    with pytest.raises(ValueError, match="dropout"):
        bptt.GRU(2, 3, 2, dropout=1.5)
    with pytest.raises(TypeError, match="dropout"):
        bptt.GRU(2, 3, 2, dropout=True)
    with pytest.warns(UserWarning, match="num_layers=1"):
        bptt.GRU(2, 3, dropout=0.2)
    layer = bptt.LSTM(2, 3, 2, dropout=0.2)
    assert "dropout=0.2" in repr(layer)
    with pytest.raises(AttributeError):
        layer.dropout = 0.0


def test_input_changed_before_backward_is_caught():
    """The layer's cache holds x itself (no copy): refilling x before backward
    gets torch's in-place error, as with any torch op that saved its input."""
    model = bt.GRU(3, 4)
    x = torch.randn(5, 2, 3)
    output, _ = model(x)
    x.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        output.sum().backward()
