"""The Cython backend's float32 recurrent products at batch >= 8 (or batch 1
over >= 32 steps) and hidden a multiple of 32 run on its own kernels
(csrc/_panel.h) where the CPU has AVX-512F or AVX2, and so do the weight
gradients' products over T B >= 64 rows with gate rows a multiple of 32;
the other tests' small shapes never reach them. Input size 13 packs W_ih as one 8 x 8 tile and a
rest of 5 (the transposing copy of csrc/_panel.h) where the input projection
runs on panels (T B >= 64: the bidirectional batch-11 cases). These hold it to the
NumPy reference and to torch at shapes that do, including a batch that leaves
a remainder of rows (11 = 8 + 3), every direction and variable lengths.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bptt
from _layers import Config, assert_results_close, draw, make_layer, reference, run
from conftest import require_backend

pytestmark = pytest.mark.skipif("cython" not in bptt.backends(), reason="needs the Cython backend")

CASES = [
    Config(kind, num_layers=2, bidirectional=bi, batch=batch, T=6, input_size=13, hidden_size=32,
           lengths=lengths)
    for kind in ("gru", "gru_seed", "rnn_tanh", "lstm")
    for bi, batch, lengths in ((False, 8, None), (True, 11, (6, 1, 4, 6, 2, 6, 5, 3, 6, 6, 1)))
] + [
    # batch 1 over >= 32 steps: the matrix-vector kernel on W_hh packed in
    # groups of 128 columns; hidden 160 gives whole groups and a 32-column
    # rest (gate rows 480 = 3 x 128 + 96, 640 = 5 x 128, 160 = 128 + 32), and
    # gru_seed's candidate product starts at column 2 H = 320, inside a group
    Config(kind, bidirectional=bi, batch=1, T=40, input_size=13, hidden_size=160,
           lengths=lengths)
    for kind in ("gru", "gru_seed", "rnn_tanh", "lstm")
    for bi, lengths in ((False, None), (True, (33,)))
] + [
    # the weight gradients' kernel (panel_atb) over 25 x 11 = 275 rows: a
    # chunk of 256 and a part; x's 13 columns leave partial blocks
    Config(kind, num_layers=2, batch=11, T=25, input_size=13, hidden_size=32)
    for kind in ("gru", "gru_seed", "rnn_tanh", "lstm")
]


@pytest.mark.parametrize("cfg", CASES, ids=[c.id for c in CASES])
def test_panel_products_match_numpy_and_torch(cfg):
    layer = make_layer(cfg, backend="cython", dtype=np.float32, seed=3)
    numpy_layer = make_layer(cfg, backend="numpy", dtype=np.float32, seed=3)
    numpy_layer.load_state_dict(layer.state_dict())
    data = draw(np.random.default_rng(4), cfg, np.float32)
    got = run(layer, data)
    assert_results_close(got, run(numpy_layer, data), np.float32, cfg.id)
    torch_layer = None
    if cfg.kind != "gru_seed":
        torch_layer = {"gru": torch.nn.GRU, "rnn_tanh": torch.nn.RNN, "lstm": torch.nn.LSTM}[
            cfg.kind](cfg.input_size, cfg.hidden_size, num_layers=cfg.num_layers,
                      bidirectional=cfg.bidirectional)
        torch_layer.load_state_dict(layer.state_dict(tensors=True))
    assert_results_close(got, reference(cfg, layer, data, torch_layer), np.float32, cfg.id)


@pytest.mark.parametrize("hidden_size, proj_size, batch", [(34, 32, 10), (33, 32, 8), (40, 32, 8)],
                         ids=["4H-not-whole-panels-B10", "4H-not-whole-panels-B8", "whole-panels"])
def test_projected_lstm_panels_cover_every_gate_column(hidden_size, proj_size, batch):
    """With a projection, h has proj_size columns and W_hh 4 H rows: the
    AVX-512 kernel writes whole panels of 32 output columns, so it may run only
    where 4 H is a multiple of 32 too (a review found the last gate columns
    left unwritten at H = 34, P = 32, batch >= 8)."""
    require_backend("cython")
    rng = np.random.default_rng(0)
    layers = [bptt.LSTM(2, hidden_size, proj_size=proj_size, backend=backend,
                        dtype=np.float32, seed=0) for backend in ("numpy", "cython")]
    layers[1].load_state_dict(layers[0].state_dict())
    x = rng.standard_normal((3, batch, 2)).astype(np.float32)
    d_output = rng.standard_normal((3, batch, proj_size)).astype(np.float32)
    results = []
    for layer in layers:
        output, (h_n, c_n) = layer.forward(x)
        dx, (dh0, dc0) = layer.backward(d_output)
        results.append([output, h_n, c_n, dx, dh0, dc0, *layer.grads.values()])
    for expected, got in zip(*results, strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5 * np.abs(expected).max())
