"""bptt's public API as a user's script calls it, for two checks in test_typing.py:
mypy checks this file with --strict's consumer settings (pyproject.toml,
``[tool.mypy]``, module ``typing_usage``), and the test runs ``main()``, so
that every line here is also a call that works.

Each function returns something typed, so that a ``FloatArray`` that had
decayed to ``Any`` shows up as ``warn_return_any``'s error.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

import bptt
import bptt.torch
from bptt import losses, optim

Floats = npt.NDArray[np.floating]


def homework_cell() -> tuple[Floats, Floats, Floats]:
    cell = bptt.GRU_Cell(3, 4, seed=0)
    h_next = cell.forward(np.ones(3), np.zeros(4))
    dx, dh = cell.backward(np.ones((1, 4)))
    zeros = np.zeros((4, 4))
    cell.init_weights(zeros, zeros, zeros, np.zeros((4, 3)), np.zeros((4, 3)), np.zeros((4, 3)))
    weights: dict[str, Floats] = cell.parameters()
    assert set(weights) == set(cell.grads)
    return h_next, dx, dh


def torch_style_cells() -> Floats:
    gru = bptt.GRUCell(3, 4, seed=0, dtype=np.float32)
    # a module called like torch's is untyped (Any), as in torch: annotate the result
    h: Floats = gru(np.ones((2, 3), dtype=np.float32))
    dx, dh = gru.backward(np.ones((2, 4), dtype=np.float32))
    rnn = bptt.RNNCell(3, 4, nonlinearity="relu", seed=0)
    rnn.forward(np.ones(3))
    lstm = bptt.LSTMCell(3, 4, seed=0)
    h_next, c_next = lstm.forward(np.ones(3))
    dx_lstm, (dh_lstm, dc_lstm) = lstm.backward(np.ones(4), np.ones(4))
    assert dx.shape == (2, 3) and dx_lstm.shape == (3,) and dh_lstm.shape == c_next.shape
    return h + dh + h_next + dc_lstm


def layers(seed: int = 0) -> float:
    x = np.random.default_rng(seed).standard_normal((5, 2, 3))
    gru = bptt.GRU(3, 4, num_layers=2, bidirectional=True, seed=seed)
    output, h_n = gru.forward(x, lengths=[5, 3])
    dx, dh0 = gru.backward(np.ones_like(output))
    lstm = bptt.LSTM(3, 4, proj_size=2, seed=seed).train()
    out, (h_last, c_last) = lstm(x)
    dx_lstm, (dh_first, dc_first) = lstm.backward(np.ones_like(out))
    rnn = bptt.RNN(3, 4, nonlinearity="tanh", batch_first=True, seed=seed).eval()
    rnn.forward(x.transpose(1, 0, 2))
    ln = bptt.LayerNormGRU(3, 4, seed=seed)
    ln_out, _ = ln.forward(x)
    ln_dx, _ = ln.backward(np.ones_like(ln_out))
    total = bptt.count_parameters("gru", 3, 4, num_layers=2, bidirectional=True)
    assert total == sum(p.size for p in gru.parameters().values())
    return float(dx.sum() + dh0.sum() + dx_lstm.sum() + dh_first.sum() + dc_first.sum()
                 + h_n.sum() + h_last.sum() + c_last.sum() + ln_dx.sum())


def training_step() -> float:
    rng = np.random.default_rng(0)
    layer = bptt.GRU(3, 8, seed=0)
    readout = bptt.Linear(8, 5, seed=1)
    optimizer = optim.Adam([layer, readout], lr=1e-2)
    x = rng.standard_normal((6, 2, 3))
    targets = rng.integers(0, 5, size=(6, 2))
    optimizer.zero_grad()
    hidden, _ = layer.forward(x)
    logits = readout.forward(hidden)
    loss, dlogits = losses.softmax_cross_entropy(logits, targets, reduction="mean")
    layer.backward(readout.backward(dlogits))
    norm: float = optim.clip_grad_norm([layer, readout], max_norm=5.0)
    optim.clip_grad_value(layer, 1.0)
    optimizer.step()
    state = optimizer.state_dict()
    optimizer.load_state_dict(state)
    optim.SGD(layer, lr=0.1, momentum=0.9).step()
    optim.Adagrad(readout).step()
    squares, _ = losses.sum_of_squares(logits, np.zeros_like(logits))
    nll, dlog = losses.nll_loss(losses.log_softmax(logits), targets)
    losses.log_softmax_backward(dlog, losses.log_softmax(logits))
    probabilities: Floats = losses.softmax(logits)
    return loss + norm + squares + nll + float(probabilities.sum())


def checks() -> bool:
    cell = bptt.GRUCell(2, 3, seed=0)
    x = np.ones((1, 2))

    def loss() -> float:
        return float(cell.forward(x).sum())

    cell.forward(x)
    cell.backward(np.ones((1, 3)))
    result = bptt.gradcheck(loss, cell.parameters(), cell.grads, max_entries=4)
    names: tuple[str, ...] = bptt.backends()
    missing: dict[str, str] = bptt.unavailable()
    assert names and isinstance(missing, dict)
    assert bptt.get_backend("numpy").name == "numpy"
    return result.passed(1e-5) and result.max_error < 1e-5


def torch_modules() -> torch.Tensor:
    gru = bptt.torch.GRU(3, 4, num_layers=2, backend="numpy")
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    gru.double()
    output, h_n = gru(x)
    (output.sum() + h_n.sum()).backward()
    cell = bptt.torch.GRUCell(3, 4).double()
    h: torch.Tensor = cell.forward(x[0])
    lstm_cell = bptt.torch.LSTMCell(3, 4).double()
    h2, c2 = lstm_cell.forward(x[0])
    seed_cell = bptt.torch.GRU_Cell(3, 4, dtype=torch.float64)
    h3: torch.Tensor = seed_cell.forward(x[0])
    assert bptt.torch.GRU(3, 4, variant="seed").variant == "seed"
    bptt.torch.RNN(3, 4)
    bptt.torch.LSTM(3, 4)
    bptt.torch.RNNCell(3, 4)
    return h + h2 + c2 + h3


def main() -> None:
    homework_cell()
    torch_style_cells()
    layers()
    training_step()
    assert checks()
    torch_modules()


if __name__ == "__main__":
    main()
