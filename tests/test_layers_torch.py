"""Sequence layers against torch autograd: values, h_n (c_n), dx, dh0 (dc0), every weight.

References (see ``_layers.py``): torch.nn.GRU / RNN / LSTM loaded with the
same state_dict, and, for the seed GRU and the sigmoid RNN that torch.nn
lacks, a Python loop of torch cell steps (itself checked against torch.nn
here). The loss has random upstream gradients on the output and on h_n (c_n).

- a deterministic grid (every torch kind x 1-3 layers x both directions x
  four layout/size cases, T from 1 to 50) on the NumPy backend, both dtypes;
- seeded random configurations (sizes, lengths, h0 / d_h_n present or not)
  on every backend, both dtypes;
- unbatched (T, I) input, state dicts in both directions, count_parameters,
  the seed variant against the seed equations and against a loop of
  GRU_Cell steps, float32 staying float32.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bptt
from _layers import (
    KINDS,
    TORCH_KINDS,
    Config,
    assert_results_close,
    draw,
    loop_reference,
    make_layer,
    make_pair,
    make_torch_layer,
    random_config,
    reference,
    run,
    torch_nn_reference,
)
from conftest import assert_close

# (batch_first, bias, batch, T, h0 given, d_h_n given): every pair of the
# first two, batch 1 and > 1, T from 1 to 50
SHAPES = [
    (False, True, 1, 1, True, True),
    (True, False, 3, 7, True, True),
    (False, False, 1, 50, False, True),
    (True, True, 2, 12, True, False),
]
SHAPE_IDS = ["tm-bias-B1-T1", "bf-nobias-B3-T7", "tm-nobias-B1-T50-noh0", "bf-bias-B2-T12-nodhn"]

GRID = [
    Config(kind, num_layers=L, bidirectional=bi, batch_first=bf, bias=bias, batch=B, T=T,
           h0=h0, d_h_n=dhn)
    for kind in TORCH_KINDS
    for L in (1, 2, 3)
    for bi in (False, True)
    for bf, bias, B, T, h0, dhn in SHAPES
]

RANDOM = [random_config(seed) for seed in range(24)]


def _check_against_torch(cfg, backend, dtype, seed=0):
    layer, torch_layer = make_pair(cfg, backend=backend, dtype=dtype, seed=seed)
    assert layer.backend == backend
    data = draw(np.random.default_rng(seed), cfg, dtype)
    expected = torch_nn_reference(torch_layer, cfg, data)
    actual = run(layer, data)
    assert_results_close(actual, expected, dtype, cfg.id)
    return actual


@pytest.mark.parametrize("cfg", GRID, ids=[c.id for c in GRID])
def test_grid_matches_torch(cfg, dtype, backend):
    _check_against_torch(cfg, backend, dtype, seed=cfg.num_layers + 10 * cfg.T)


@pytest.mark.parametrize("cfg", RANDOM, ids=[f"r{c.seed}-{c.id}" for c in RANDOM])
def test_random_configs_match_torch(cfg, dtype, backend):
    """Torch kinds against torch.nn, seed GRU and sigmoid RNN against the loop reference."""
    layer = make_layer(cfg, backend=backend, dtype=dtype, seed=cfg.seed)
    torch_layer = None
    if cfg.kind in TORCH_KINDS:
        torch.manual_seed(cfg.seed)
        torch_layer = make_torch_layer(cfg, dtype)
        layer.load_state_dict(torch_layer.state_dict())
    data = draw(np.random.default_rng(cfg.seed), cfg, dtype)
    expected = reference(cfg, layer, data, torch_layer)
    assert_results_close(run(layer, data), expected, dtype, cfg.id)


LOOP_CHECKS = [
    Config(kind, num_layers=2, bidirectional=True, batch_first=bf, batch=3, T=6,
           lengths=(6, 1, 4), bias=bias)
    for kind in TORCH_KINDS
    for bf, bias in ((False, True), (True, False))
] + [Config(kind, batch=None, T=4) for kind in TORCH_KINDS]


@pytest.mark.parametrize("cfg", LOOP_CHECKS, ids=[c.id for c in LOOP_CHECKS])
def test_loop_reference_matches_torch_nn(cfg):
    """The loop reference (used for seed GRU and sigmoid RNN) is torch.nn where both exist."""
    torch.manual_seed(3)
    torch_layer = make_torch_layer(cfg)
    state_dict = {k: v.numpy() for k, v in torch_layer.state_dict().items()}
    data = draw(np.random.default_rng(4), cfg)
    assert_results_close(loop_reference(cfg, state_dict, data),
                         torch_nn_reference(torch_layer, cfg, data), np.float64, cfg.id)


# -- unbatched ---------------------------------------------------------------

UNBATCHED = [
    Config(kind, num_layers=L, bidirectional=bi, batch=None, T=T, h0=h0)
    for kind in KINDS
    for L, bi, T, h0 in ((1, False, 1, True), (2, True, 9, True), (3, True, 5, False))
]


@pytest.mark.parametrize("cfg", UNBATCHED, ids=[c.id for c in UNBATCHED])
def test_unbatched_matches_torch(cfg, backend):
    """2-D (T, I) input with h0 (L*D, H), as torch.nn takes it; batch_first is moot."""
    layer = make_layer(cfg, backend=backend, seed=5)
    torch_layer = None
    if cfg.kind in TORCH_KINDS:
        torch.manual_seed(5)
        torch_layer = make_torch_layer(cfg)
        layer.load_state_dict(torch_layer.state_dict())
    data = draw(np.random.default_rng(6), cfg)
    actual = run(layer, data)
    LD, H = cfg.num_layers * cfg.directions, cfg.hidden_size
    assert actual["output"].shape == (cfg.T, cfg.directions * H)
    assert actual["h_n"].shape == (LD, H)
    assert actual["dx"].shape == (cfg.T, cfg.input_size)
    assert actual["dh0"].shape == (LD, H)
    assert_results_close(actual, reference(cfg, layer, data, torch_layer), np.float64, cfg.id)

    # the same numbers as a batch of one, in either layout
    for batch_first in (False, True):
        batched_cfg = cfg.with_(batch=1, batch_first=batch_first)
        batched = make_layer(batched_cfg, backend=backend, seed=0)
        batched.load_state_dict(layer.state_dict())
        axis = 0 if batch_first else 1
        data1 = {k: v for k, v in data.items()}
        data1["x"] = np.expand_dims(data["x"], axis)
        data1["g_out"] = np.expand_dims(data["g_out"], axis)
        for k in ("h0", "c0", "g_h", "g_c"):
            if data[k] is not None:
                data1[k] = data[k][:, None, :]
        result = run(batched, data1)
        for key, value in actual.items():
            if key in ("output", "dx"):
                value = np.expand_dims(value, axis)
            elif key in ("h_n", "c_n", "dh0", "dc0"):
                value = value[:, None, :]
            assert_close(result[key], value, 1e-12, name=f"batch of one ({batch_first=}): {key}")


# -- state dicts -------------------------------------------------------------

STATE_DICT_CASES = [
    Config(kind, num_layers=2, bidirectional=True, bias=bias, batch=2, T=4)
    for kind in TORCH_KINDS
    for bias in (True, False)
]


@pytest.mark.parametrize("cfg", STATE_DICT_CASES, ids=[c.id for c in STATE_DICT_CASES])
def test_state_dict_loads_into_torch(cfg):
    """torch_layer.load_state_dict(ours) reproduces our numbers: names, shapes, order, values."""
    layer = make_layer(cfg, seed=7)
    torch_layer = make_torch_layer(cfg)
    ours = layer.state_dict()
    theirs = torch_layer.state_dict()
    assert list(ours) == list(theirs)
    assert {k: v.shape for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}
    torch_layer.load_state_dict({k: torch.from_numpy(v) for k, v in ours.items()})
    for name, p in torch_layer.state_dict().items():
        assert np.array_equal(p.numpy(), ours[name]), name
    data = draw(np.random.default_rng(8), cfg)
    assert_results_close(run(layer, data), torch_nn_reference(torch_layer, cfg, data),
                         np.float64, cfg.id)


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_is_a_copy_and_round_trips(kind):
    cfg = Config(kind, num_layers=2, bidirectional=True)
    layer = make_layer(cfg, seed=1)
    sd = layer.state_dict()
    for v in sd.values():
        v += 1.0  # changing the copy leaves the layer alone
    assert all(not np.array_equal(layer.parameters()[k], v) for k, v in sd.items())
    other = make_layer(cfg, seed=2)
    other.load_state_dict(sd)
    loaded = {k: v.copy() for k, v in sd.items()}
    for v in sd.values():
        v += 1.0  # and the layer does not keep the arrays it loaded
    for k, v in other.state_dict().items():
        assert np.array_equal(v, loaded[k]), k
    assert list(layer.parameters()) == list(layer.grads) == list(sd)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_default_dtypes_load_both_ways(kind):
    """Defaults differ (torch float32, bptt float64); state dicts still load
    both ways, copied into the receiver's dtype as torch itself does."""
    torch_cls = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind]
    bptt_cls = {"rnn": bptt.RNN, "gru": bptt.GRU, "lstm": bptt.LSTM}[kind]
    torch.manual_seed(0)
    theirs = torch_cls(3, 5, num_layers=2)
    ours = bptt_cls(3, 5, num_layers=2)
    ours.load_state_dict(theirs.state_dict())
    assert ours.dtype == np.float64
    for name, p in theirs.state_dict().items():
        assert np.array_equal(ours.parameters()[name], p.numpy().astype(np.float64)), name
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x).float())[0].numpy()
    np.testing.assert_allclose(ours.forward(x)[0], expected, rtol=1e-5, atol=1e-6)

    back = torch_cls(3, 5, num_layers=2)
    back.load_state_dict(ours.state_dict(tensors=True))
    for name, p in back.state_dict().items():
        assert p.dtype == torch.float32
        assert np.array_equal(p.numpy(), ours.parameters()[name].astype(np.float32)), name


def test_torch_tensors_with_grad_load():
    """A live torch.nn state (requires_grad parameters) loads as well as its state_dict."""
    cfg = Config("lstm", num_layers=2)
    torch_layer = make_torch_layer(cfg)
    layer = make_layer(cfg)
    layer.load_state_dict(dict(torch_layer.named_parameters()))
    for name, p in torch_layer.named_parameters():
        assert np.array_equal(layer.parameters()[name], p.detach().numpy())


# -- parameter counts --------------------------------------------------------

TORCH_LAYERS = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}
COUNT_GRID = [
    (kind, I, H, L, bias, bi)
    for kind in ("rnn", "gru", "lstm")
    for I, H in ((1, 1), (5, 3), (10, 20))
    for L in (1, 3)
    for bias in (True, False)
    for bi in (False, True)
]


@pytest.mark.parametrize("kind, I, H, L, bias, bi", COUNT_GRID)
def test_count_parameters_matches_torch(kind, I, H, L, bias, bi):
    torch_layer = TORCH_LAYERS[kind](I, H, num_layers=L, bias=bias, bidirectional=bi)
    expected = sum(p.numel() for p in torch_layer.parameters())
    assert bptt.count_parameters(kind, I, H, L, bias, bi) == expected
    assert bptt.count_parameters(kind, I, H, num_layers=L, bias=bias,
                                 bidirectional=bi) == expected
    cls = {"rnn": bptt.RNN, "gru": bptt.GRU, "lstm": bptt.LSTM}[kind]
    layer = cls(I, H, num_layers=L, bias=bias, bidirectional=bi, backend="numpy", seed=0)
    assert sum(p.size for p in layer.parameters().values()) == expected


def test_count_parameters_seed_question():
    """Seed 004, question 2: RNN h(n+h) weights, LSTM four times, GRU three (plus biases)."""
    n, h = 7, 5
    assert bptt.count_parameters("rnn", n, h, bias=False) == h * (n + h)
    assert bptt.count_parameters("rnn", n, h) == h * (n + h) + 2 * h
    assert bptt.count_parameters("lstm", n, h, bias=False) == 4 * h * (n + h)
    assert bptt.count_parameters("gru", n, h, bias=False) == 3 * h * (n + h)


# -- the seed variant --------------------------------------------------------

SEED_CASES = [
    Config("gru_seed", num_layers=L, bidirectional=bi, batch_first=bf, bias=bias, batch=B, T=T,
           lengths=lengths)
    for L, bi, bf, B, T, lengths in (
        (1, False, False, 1, 1, None),
        (1, False, True, 3, 20, None),
        (2, True, False, 3, 7, (7, 1, 3)),
        (3, True, True, 2, 5, None),
        (1, True, False, None, 6, None),
    )
    for bias in (False, True)
]


@pytest.mark.parametrize("cfg", SEED_CASES, ids=[c.id for c in SEED_CASES])
def test_seed_variant_matches_seed_equations(cfg, dtype, backend):
    """Against the seed equations in torch (reset before W_h, z weighting the candidate)."""
    layer = make_layer(cfg, backend=backend, dtype=dtype, seed=21)
    # scale weights so the gates leave their linear range
    layer.load_state_dict({k: 2 * v for k, v in layer.state_dict().items()})
    data = draw(np.random.default_rng(22), cfg, dtype)
    actual = run(layer, data)
    assert_results_close(actual, loop_reference(cfg, layer.state_dict(), data), dtype, cfg.id)
    if cfg.bias:  # one additive bias seen through two names: the same gradient, exactly
        for name in layer.parameters():
            if name.startswith("bias_ih"):
                partner = name.replace("bias_ih", "bias_hh")
                assert np.array_equal(actual["d" + name], actual["d" + partner]), name


def test_seed_variant_differs_from_torch_variant():
    """Same weights, different equations: the variants must not agree."""
    cfg = Config("gru", T=3)
    torch_gru = make_layer(cfg, seed=0)
    seed_gru = make_layer(cfg.with_(kind="gru_seed"), seed=1)
    seed_gru.load_state_dict(torch_gru.state_dict())
    x = np.random.default_rng(0).standard_normal((3, 2, 3))
    h0 = np.random.default_rng(1).uniform(-1, 1, (1, 2, 4))
    assert np.abs(torch_gru(x, h0)[0] - seed_gru(x, h0)[0]).max() > 1e-3


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("bias", [False, True], ids=["seed000-nobias", "seed001-bias"])
def test_seed_variant_is_a_loop_of_gru_cells(bias, bidirectional, backend):
    """bptt.GRU(variant="seed") equals bptt.GRU_Cell stepped by hand, both ways through time.

    Backward re-runs each step's forward (a GRU_Cell keeps one step's cache)
    and lets the cell accumulate its gradients over the steps.
    """
    T, B, I, H = 9, 3, 4, 5
    layer = bptt.GRU(I, H, bias=bias, bidirectional=bidirectional, variant="seed",
                     backend=backend, seed=31)
    rng = np.random.default_rng(32)
    D = 2 if bidirectional else 1
    x = rng.standard_normal((T, B, I))
    h0 = rng.uniform(-1, 1, (D, B, H))
    g_out = rng.standard_normal((T, B, D * H))
    g_h = rng.standard_normal((D, B, H))
    output, h_n = layer.forward(x, h0)
    dx, dh0 = layer.backward(g_out, g_h)
    params, grads = layer.parameters(), layer.grads

    total_dx = np.zeros_like(x)
    for direction in range(D):
        suffix = "_reverse" if direction else ""
        w_ih, w_hh = params["weight_ih_l0" + suffix], params["weight_hh_l0" + suffix]
        cell = bptt.GRU_Cell(I, H, bias=bias, backend=backend, seed=0)
        blocks = {"Wrx": w_ih[:H], "Wzx": w_ih[H:2 * H], "Wx": w_ih[2 * H:],
                  "Wrh": w_hh[:H], "Wzh": w_hh[H:2 * H], "Wh": w_hh[2 * H:]}
        if bias:
            b = params["bias_ih_l0" + suffix] + params["bias_hh_l0" + suffix]
            blocks.update(br=b[:H], bz=b[H:2 * H], bh=b[2 * H:])
        names = ("Wzh", "Wrh", "Wh", "Wzx", "Wrx", "Wx") + (("bz", "br", "bh") if bias else ())
        cell.init_weights(*(blocks[k] for k in names))
        order = list(range(T - 1, -1, -1)) if direction else list(range(T))
        hs = {}
        h = h0[direction]
        for t in order:
            hs[t] = h
            h = cell.forward(x[t], h)
            assert_close(output[t, :, direction * H:(direction + 1) * H], h, 1e-12,
                         name=f"direction {direction} step {t}")
        assert_close(h_n[direction], h, 1e-12, name=f"h_n[{direction}]")
        dh = g_h[direction]
        for t in reversed(order):
            cell.forward(x[t], hs[t])
            dx_t, dh = cell.backward(dh + g_out[t, :, direction * H:(direction + 1) * H])
            total_dx[t] += dx_t
        assert_close(dh0[direction], dh, 1e-12, name=f"dh0[{direction}]")
        rows = {"r": slice(0, H), "z": slice(H, 2 * H), "h": slice(2 * H, 3 * H)}
        pairs = {"Wrx": ("weight_ih", "r"), "Wzx": ("weight_ih", "z"), "Wx": ("weight_ih", "h"),
                 "Wrh": ("weight_hh", "r"), "Wzh": ("weight_hh", "z"), "Wh": ("weight_hh", "h")}
        if bias:
            pairs.update(br=("bias_ih", "r"), bz=("bias_ih", "z"), bh=("bias_ih", "h"))
        for cell_name, (layer_name, block) in pairs.items():
            ours = grads[f"{layer_name}_l0{suffix}"][rows[block]]
            assert_close(ours, cell.grads[cell_name], 1e-10, name=f"d{cell_name}{suffix}")
            if layer_name == "bias_ih":
                assert_close(grads[f"bias_hh_l0{suffix}"][rows[block]], cell.grads[cell_name],
                             1e-10, name=f"d{cell_name}{suffix} via bias_hh")
    assert_close(dx, total_dx, 1e-12, name="dx")


# -- dtype -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_float32_in_float32_out(kind, backend):
    cfg = Config(kind, num_layers=2, bidirectional=True, batch=3, T=5, lengths=(5, 2, 1))
    layer = make_layer(cfg, backend=backend, dtype=np.float32, seed=3)
    data = draw(np.random.default_rng(3), cfg, np.float32)
    result = run(layer, data)
    for key, value in result.items():
        assert value.dtype == np.float32, key
    for name, p in layer.parameters().items():
        assert p.dtype == np.float32, name
    assert all(v.dtype == np.float32 for v in layer.state_dict().values())
