"""Bad input to the sequence layers: a TypeError or ValueError that names the argument
and states what was expected and what was given, raised before any kernel runs.

Validation is the driver's (plain Python, the same for every backend), so
these run on the NumPy backend.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bptt


def _gru(**kwargs):
    kwargs = {"num_layers": 2, "bidirectional": True, "backend": "numpy", "seed": 0, **kwargs}
    return bptt.GRU(3, 4, **kwargs)


def _lstm(**kwargs):
    return bptt.LSTM(3, 4, backend="numpy", seed=0, **kwargs)


X = np.zeros((5, 2, 3))  # (T, B, I) for the layers above


# -- x -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, error, match",
    [
        (np.zeros(3), ValueError, r"x must be 2-D \(T, 3\) or 3-D \(T, B, input_size\), "
                                  r"got 1-D \(3,\)"),
        (np.zeros((5, 2, 3, 1)), ValueError, r"x must be 2-D .* got 4-D \(5, 2, 3, 1\)"),
        (np.zeros((5, 2, 4)), ValueError, r"x must have shape \(T, B, input_size\) with "
                                          r"input_size=3 .* got \(5, 2, 4\)"),
        (np.zeros((5, 4)), ValueError, r"x must have shape \(T, 3\) unbatched .* got \(5, 4\)"),
        (np.zeros((0, 2, 3)), ValueError, r"x must have shape .* T, B >= 1, got \(0, 2, 3\)"),
        (np.zeros((5, 0, 3)), ValueError, r"x must have shape .* T, B >= 1, got \(5, 0, 3\)"),
        (np.zeros((5, 2, 3), np.float32), TypeError, r"x must have dtype float64, got float32"),
        (np.zeros((5, 2, 3), np.int64), TypeError, r"x must have dtype float64, got int64"),
        (torch.zeros(5, 2, 3), TypeError, r"x must have dtype float64, got float32"),
        ("abc", TypeError, r"x must be a numpy array, got str"),
    ],
    ids=["1d", "4d", "input_size", "input_size-unbatched", "T0", "B0", "float32", "int64",
         "torch-float32", "str"],
)
def test_bad_x(x, error, match):
    layer = _gru()
    with pytest.raises(error, match=match):
        layer.forward(x)
    with pytest.raises(ValueError, match="needs a forward"):  # nothing half-done was kept
        layer.backward(np.zeros((5, 2, 8)))


def test_bad_x_batch_first_reports_callers_layout():
    layer = _gru(batch_first=True)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, input_size\) with "
                                         r"input_size=3 .* got \(2, 5, 4\)"):
        layer.forward(np.zeros((2, 5, 4)))


def test_float32_layer_rejects_float64():
    layer = _gru(dtype=np.float32)
    with pytest.raises(TypeError, match=r"x must have dtype float32, got float64"):
        layer.forward(X)
    with pytest.raises(TypeError, match=r"h0 must have dtype float32, got float64"):
        layer.forward(X.astype(np.float32), np.zeros((4, 2, 4)))


# -- lengths -----------------------------------------------------------------


@pytest.mark.parametrize(
    "lengths, error, match",
    [
        ([0, 5], ValueError, r"lengths must lie in 1\.\.5 \(the sequence length\), "
                             r"got values from 0 to 5"),
        ([6, 5], ValueError, r"lengths must lie in 1\.\.5 .* got values from 5 to 6"),
        ([-1, 3], ValueError, r"lengths must lie in 1\.\.5 .* got values from -1 to 3"),
        ([5, 5, 5], ValueError, r"lengths must have shape \(2,\), one per batch row, "
                                r"got \(3,\)"),
        ([5], ValueError, r"lengths must have shape \(2,\), .* got \(1,\)"),
        ([], ValueError, r"lengths must have shape \(2,\), .* got \(0,\)"),
        ([[5, 5]], ValueError, r"lengths must have shape \(2,\), .* got \(1, 2\)"),
        (5, ValueError, r"lengths must have shape \(2,\), .* got \(\)"),
        ([5.0, 4.0], TypeError, r"lengths must hold integers, got dtype float64"),
        (np.array([True, True]), TypeError, r"lengths must hold integers, got dtype bool"),
        (torch.tensor([5.0, 4.0]), TypeError, r"lengths must hold integers, got dtype float32"),
    ],
    ids=["zero", "above-T", "negative", "too-many", "too-few", "empty", "2d", "scalar",
         "float", "bool", "torch-float"],
)
def test_bad_lengths(lengths, error, match):
    with pytest.raises(error, match=match):
        _gru().forward(X, lengths=lengths)


def test_lengths_with_unbatched_input():
    with pytest.raises(ValueError, match=r"lengths needs batched 3-D x .* got unbatched 2-D x "
                                         r"of shape \(5, 3\)"):
        _gru().forward(np.zeros((5, 3)), lengths=[5])


# -- initial state -----------------------------------------------------------


@pytest.mark.parametrize(
    "x, h0, match",
    [
        (X, np.zeros((2, 2, 4)), r"h0 must have shape \(4, 2, 4\) \(num_layers \* "
                                 r"num_directions, B, hidden_size\), got \(2, 2, 4\)"),
        (X, np.zeros((4, 3, 4)), r"h0 must have shape \(4, 2, 4\) .* got \(4, 3, 4\)"),
        (X, np.zeros((4, 2, 5)), r"h0 must have shape \(4, 2, 4\) .* got \(4, 2, 5\)"),
        (X, np.zeros((4, 4)), r"h0 must have shape \(4, 2, 4\) .* got \(4, 4\)"),
        (np.zeros((5, 3)), np.zeros((4, 1, 4)), r"h0 must have shape \(4, 4\) \(num_layers \* "
                                                r"num_directions, hidden_size\), got \(4, 1, 4\)"),
    ],
    ids=["layers", "batch", "hidden", "unbatched-h0", "batched-h0-unbatched-x"],
)
def test_bad_h0(x, h0, match):
    with pytest.raises(ValueError, match=match):
        _gru().forward(x, h0)


@pytest.mark.parametrize(
    "state, error, match",
    [
        (np.zeros((1, 2, 4)), TypeError, r"h0 must be a tuple \(h_0, c_0\) or None, "
                                         r"got ndarray"),
        ((np.zeros((1, 2, 4)),), TypeError, r"h0 must be a tuple .* got tuple of length 1"),
        ((np.zeros((1, 2, 4)), np.zeros((1, 3, 4))), ValueError,
         r"c0 must have shape \(1, 2, 4\) .* got \(1, 3, 4\)"),
        ((np.zeros((2, 2, 4)), np.zeros((1, 2, 4))), ValueError,
         r"h0 must have shape \(1, 2, 4\) .* got \(2, 2, 4\)"),
    ],
    ids=["array", "1-tuple", "c0-shape", "h0-shape"],
)
def test_bad_lstm_state(state, error, match):
    with pytest.raises(error, match=match):
        _lstm().forward(X, state)


# -- backward ----------------------------------------------------------------


def test_backward_without_forward():
    with pytest.raises(ValueError, match=r"GRU\.backward\(\) needs a forward\(\) in training "
                                         r"mode first"):
        _gru().backward(np.zeros((5, 2, 8)))


def test_backward_twice_after_one_forward():
    layer = _gru()
    layer.forward(X)
    layer.backward(np.zeros((5, 2, 8)))
    with pytest.raises(ValueError, match=r"needs a forward.* no forward left"):
        layer.backward(np.zeros((5, 2, 8)))


def test_backward_after_eval():
    layer = _lstm()
    layer.forward(X)
    layer.eval()  # drops the cache
    with pytest.raises(ValueError, match=r"LSTM\.backward\(\) needs a forward\(\) .* eval mode"):
        layer.backward(np.zeros((5, 2, 4)))
    layer.forward(X)  # in eval mode: still no cache
    with pytest.raises(ValueError, match=r"eval mode.*call \.train\(\)"):
        layer.backward(np.zeros((5, 2, 4)))


@pytest.mark.parametrize(
    "d_output, d_h_n, error, match",
    [
        (np.zeros((5, 2, 4)), None, ValueError,
         r"d_output must have shape \(5, 2, 8\) like forward's output, got \(5, 2, 4\)"),
        (np.zeros((4, 2, 8)), None, ValueError, r"d_output must have shape \(5, 2, 8\) .* "
                                                r"got \(4, 2, 8\)"),
        (np.zeros((2, 5, 8)), None, ValueError, r"d_output must have shape \(5, 2, 8\) .* "
                                                r"got \(2, 5, 8\)"),
        (np.zeros((5, 2, 8), np.float32), None, TypeError,
         r"d_output must have dtype float64, got float32"),
        (np.zeros((5, 2, 8)), np.zeros((2, 2, 4)), ValueError,
         r"d_h_n must have shape \(4, 2, 4\) \(num_layers \* num_directions, B, hidden_size\), "
         r"got \(2, 2, 4\)"),
        (np.zeros((5, 2, 8)), np.zeros((4, 2, 4), np.float32), TypeError,
         r"d_h_n must have dtype float64, got float32"),
    ],
    ids=["features", "T", "batch-first-given", "dtype", "d_h_n-shape", "d_h_n-dtype"],
)
def test_bad_upstream_gradient_keeps_the_cache(d_output, d_h_n, error, match):
    layer = _gru()
    layer.forward(X)
    with pytest.raises(error, match=match):
        layer.backward(d_output, d_h_n)
    layer.backward(np.zeros((5, 2, 8)))  # the failed call consumed nothing


def test_bad_d_c_n():
    layer = _lstm()
    layer.forward(X)
    with pytest.raises(ValueError, match=r"d_c_n must have shape \(1, 2, 4\) .* got \(1, 4\)"):
        layer.backward(np.zeros((5, 2, 4)), None, np.zeros((1, 4)))


def test_unbatched_backward_shapes():
    layer = _gru()
    layer.forward(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"d_output must have shape \(5, 8\) .* got \(5, 1, 8\)"):
        layer.backward(np.zeros((5, 1, 8)))
    with pytest.raises(ValueError, match=r"d_h_n must have shape \(4, 4\) .* got \(4, 1, 4\)"):
        layer.backward(np.zeros((5, 8)), np.zeros((4, 1, 4)))


# -- state dicts -------------------------------------------------------------


def _unchanged_after(layer, call):
    before = layer.state_dict()
    call()
    for name, value in layer.state_dict().items():
        assert np.array_equal(value, before[name]), f"{name} was written by a failed load"


def test_state_dict_missing_and_unexpected_keys():
    layer = _gru()
    sd = layer.state_dict()
    sd.pop("weight_hh_l1_reverse")
    sd["weight_hh_l2"] = np.zeros((12, 4))

    def load():
        with pytest.raises(ValueError, match=r"state_dict keys do not match GRU's parameters: "
                                             r"missing \['weight_hh_l1_reverse'\], "
                                             r"unexpected \['weight_hh_l2'\]"):
            layer.load_state_dict({k: v + 1 for k, v in sd.items()})

    _unchanged_after(layer, load)


def test_state_dict_from_another_configuration():
    """A unidirectional torch.nn.GRU's state does not fit a bidirectional layer."""
    torch_gru = torch.nn.GRU(3, 4, num_layers=2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"missing \['bias_hh_l0_reverse', "):
        _gru().load_state_dict(torch_gru.state_dict())
    torch_nobias = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, bias=False,
                                dtype=torch.float64)
    with pytest.raises(ValueError, match=r"missing \['bias_hh_l0', .*unexpected \[\]"):
        _gru().load_state_dict(torch_nobias.state_dict())


@pytest.mark.parametrize(
    "name, value, error, match",
    [
        ("weight_ih_l0", np.zeros((12, 4)), ValueError,
         r"weight_ih_l0 must have shape \(12, 3\), got \(12, 4\)"),
        ("weight_ih_l1", np.zeros((12, 4)), ValueError,
         r"weight_ih_l1 must have shape \(12, 8\), got \(12, 4\)"),
        ("bias_hh_l0_reverse", np.zeros((12, 1)), ValueError,
         r"bias_hh_l0_reverse must have shape \(12,\), got \(12, 1\)"),
        ("weight_hh_l0", np.zeros((12, 4), np.int64), TypeError,
         r"weight_hh_l0 must have dtype float32 or float64, got int64"),
        ("weight_hh_l0", torch.zeros(12, 4, dtype=torch.float16), TypeError,
         r"weight_hh_l0 must have dtype float32 or float64, got float16"),
        ("weight_hh_l0", np.full((12, 4), np.nan), ValueError,
         r"weight_hh_l0 must be finite, got 48 NaN or infinite value\(s\)"),
    ],
    ids=["shape", "upper-layer-shape", "bias-shape", "dtype", "torch-float16", "nan"],
)
def test_state_dict_bad_value(name, value, error, match):
    layer = _gru()

    def load():
        sd = {k: v + 1 for k, v in layer.state_dict().items()}
        sd[name] = value
        with pytest.raises(error, match=match):
            layer.load_state_dict(sd)

    _unchanged_after(layer, load)


def test_state_dict_beyond_float32_is_refused_before_anything_is_written():
    layer = bptt.GRU(3, 4, dtype=np.float32, seed=0)

    def load():
        sd = {k: v.astype(np.float64) + 1 for k, v in layer.state_dict().items()}
        sd["weight_hh_l0"][0, 0] = 1e39
        with pytest.raises(ValueError, match=r"weight_hh_l0 has values beyond the range of "
                                             r"float32 \(largest magnitude 1e\+39\)"):
            layer.load_state_dict(sd)

    _unchanged_after(layer, load)


def test_state_dict_in_the_other_byte_order_loads():
    layer, other = bptt.GRU(3, 4, seed=0), bptt.GRU(3, 4, seed=1)
    other.load_state_dict({k: v.astype(">f8") for k, v in layer.state_dict().items()})
    for name, value in layer.parameters().items():
        assert np.array_equal(other.parameters()[name], value), name
        assert other.parameters()[name].dtype == np.float64


def test_state_dict_tensors_must_be_a_bool():
    with pytest.raises(TypeError, match=r"tensors must be a bool, got str 'yes'"):
        _gru().state_dict(tensors="yes")


def test_state_dict_not_a_mapping():
    with pytest.raises(TypeError, match=r"state_dict must be a mapping, got list"):
        _gru().load_state_dict([("weight_ih_l0", np.zeros((12, 3)))])


# -- construction ------------------------------------------------------------


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: bptt.GRU(3, 4, variant="cudnn"), ValueError,
         r"variant must be 'torch' or 'seed', got 'cudnn'"),
        (lambda: bptt.RNN(3, 4, nonlinearity="gelu"), ValueError,
         r"nonlinearity must be one of \('tanh', 'relu', 'sigmoid'\), got 'gelu'"),
        (lambda: bptt.LSTM(3, 0), ValueError, r"hidden_size must be a positive int, got 0"),
        (lambda: bptt.LSTM(0, 3), ValueError, r"input_size must be a positive int, got 0"),
        (lambda: bptt.GRU(3, 4, num_layers=0), ValueError,
         r"num_layers must be a positive int, got 0"),
        (lambda: bptt.GRU(3, 4, num_layers=1.5), TypeError,
         r"num_layers must be a positive int, got float 1\.5"),
        (lambda: bptt.RNN(3, 4, bidirectional=1), TypeError,
         r"bidirectional must be a bool, got int 1"),
        (lambda: bptt.RNN(3, 4, batch_first="yes"), TypeError,
         r"batch_first must be a bool, got str 'yes'"),
        (lambda: bptt.RNN(3, 4, bias=None), TypeError, r"bias must be a bool, got NoneType"),
        (lambda: bptt.GRU(3, 4, dtype=np.int32), TypeError,
         r"dtype must be float32 or float64, got int32"),
        (lambda: bptt.GRU(3, 4, backend="fortran"), ValueError,
         r"backend must be one of 'auto', 'cython', 'numba', 'numpy'; got 'fortran'"),
        (lambda: bptt.GRU(3, 4, seed=1, rng=np.random.default_rng()), ValueError,
         r"pass either seed or rng, not both"),
        (lambda: _gru().train(1), TypeError, r"mode must be a bool, got int 1"),
    ],
    ids=["variant", "nonlinearity", "hidden_size", "input_size", "num_layers",
         "num_layers-float", "bidirectional", "batch_first", "bias", "dtype", "backend",
         "seed-and-rng", "train-mode"],
)
def test_bad_construction(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (("cnn", 3, 4), {}, ValueError, r"kind must be one of \('rnn', 'gru', 'lstm', "
                                        r"'layernorm_gru', 'layernorm_lstm'\), got 'cnn'"),
        (("gru", 0, 4), {}, ValueError, r"input_size must be a positive int, got 0"),
        (("gru", 3, 4), {"num_layers": 0}, ValueError,
         r"num_layers must be a positive int, got 0"),
        (("gru", 3, 4), {"bias": "no"}, TypeError, r"bias must be a bool, got str 'no'"),
        (("gru", 3, 4), {"bidirectional": 2}, TypeError,
         r"bidirectional must be a bool, got int 2"),
    ],
    ids=["kind", "input_size", "num_layers", "bias", "bidirectional"],
)
def test_bad_count_parameters(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        bptt.count_parameters(*args, **kwargs)


@pytest.mark.parametrize("build", [
    lambda: bptt.GRU(3, 4, backend="numpy"),
    lambda: bptt.RNN(3, 4, backend="numpy"),
    lambda: bptt.LSTM(3, 4, proj_size=2, backend="numpy"),
    lambda: bptt.LSTM(3, 4, peepholes=True, clip=1.0, backend="numpy"),
    lambda: bptt.LayerNormGRU(3, 4, backend="numpy"),
    lambda: bptt.LayerNormLSTM(3, 4, backend="numpy"),
], ids=["gru", "rnn", "lstm-proj", "lstm-peephole", "ln-gru", "ln-lstm"])
@pytest.mark.parametrize("name, value", [
    ("input_size", 5), ("hidden_size", 5000), ("num_layers", 2), ("bias", False),
    ("batch_first", True), ("bidirectional", True), ("dtype", np.float32),
])
def test_sizes_and_options_are_fixed_after_construction(build, name, value):
    """Parameters, caches and kernels were made for the constructor's sizes:
    changing one afterwards is refused, and the layer still works."""
    layer = build()
    before = getattr(layer, name)
    with pytest.raises(AttributeError, match=rf"{name} is fixed at construction"):
        setattr(layer, name, value)
    assert getattr(layer, name) == before
    output, _ = layer.forward(np.ones((2, 1, 3)))
    assert output.shape[0] == 2 and np.isfinite(output).all()
