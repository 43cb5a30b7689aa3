"""``bptt.optim`` against ``torch.optim`` and ``torch.nn.utils`` clipping.

Both sides start from the same parameters and see the same sequence of
gradients (drawn once, written into ``module.grads`` for bptt and into
``.grad`` for torch); after 10 steps the parameters, and how far they moved,
must agree to 1e-12 in float64. The optimizer spans two modules (a list),
one of them without bias.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bptt
from bptt import optim
from conftest import assert_close

RTOL = 1e-12
STEPS = 10

CASES = {
    "sgd": (optim.SGD, {"lr": 0.1}, torch.optim.SGD, {"lr": 0.1}),
    "sgd-momentum": (optim.SGD, {"lr": 0.05, "momentum": 0.9},
                     torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    "adagrad": (optim.Adagrad, {"lr": 0.1, "eps": 1e-8},
                torch.optim.Adagrad, {"lr": 0.1, "eps": 1e-8, "lr_decay": 0}),
    "adam": (optim.Adam, {}, torch.optim.Adam, {}),
    "adam-custom": (optim.Adam, {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6},
                    torch.optim.Adam, {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6}),
}


def _modules(dtype=np.float64, seed=0):
    return [bptt.Linear(4, 3, dtype=dtype, seed=seed),
            bptt.Linear(3, 2, bias=False, dtype=dtype, seed=seed + 1)]


def _live(modules):
    """(parameter, gradient) arrays in one fixed order."""
    return [(m.parameters()[name], m.grads[name]) for m in modules for name in m.parameters()]


def _gradient_sequence(modules, steps=STEPS, seed=1):
    rng = np.random.default_rng(seed)
    dtype = modules[0].dtype
    return [[rng.standard_normal(p.shape).astype(dtype) for p, _ in _live(modules)]
            for _ in range(steps)]


def _train(optimizer, modules, gradients):
    live = _live(modules)
    for step in gradients:
        optimizer.zero_grad()
        for (_, g), value in zip(live, step, strict=True):
            g += value
        optimizer.step()


def _torch_train(cls, kwargs, initial, gradients):
    params = [torch.tensor(p.copy(), requires_grad=True) for p in initial]
    opt = cls(params, **kwargs)
    for step in gradients:
        for p, value in zip(params, step, strict=True):
            p.grad = torch.from_numpy(value.copy())
        opt.step()
    return [p.detach().numpy() for p in params]


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_matches_torch_after_ten_steps(case):
    cls, kwargs, torch_cls, torch_kwargs = case
    modules = _modules()
    initial = [p.copy() for p, _ in _live(modules)]
    gradients = _gradient_sequence(modules)

    opt = cls(modules, **kwargs)
    _train(opt, modules, gradients)
    expected = _torch_train(torch_cls, torch_kwargs, initial, gradients)

    assert opt.steps == STEPS
    for k, ((p, _), ref, p0) in enumerate(zip(_live(modules), expected, initial, strict=True)):
        assert_close(p, ref, RTOL, f"parameter {k}")
        assert np.abs(p - p0).max() > 1e-3, f"parameter {k} barely moved: the test proves little"
        assert_close(p - p0, ref - p0, 1e-10, f"update of parameter {k}")


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_float32_stays_float32_and_close_to_torch(case):
    cls, kwargs, torch_cls, torch_kwargs = case
    modules = _modules(np.float32)
    initial = [p.copy() for p, _ in _live(modules)]
    gradients = _gradient_sequence(modules)
    opt = cls(modules, **kwargs)
    _train(opt, modules, gradients)
    expected = _torch_train(torch_cls, torch_kwargs, initial, gradients)
    for k, ((p, _), ref) in enumerate(zip(_live(modules), expected, strict=True)):
        assert p.dtype == np.float32
        assert_close(p, ref, 1e-5, f"parameter {k}")
    for key, buffer in opt.state_dict()["state"].items():
        assert buffer.dtype == np.float32, key


def test_one_module_or_a_list_of_one():
    a, b = bptt.Linear(3, 2, seed=4), bptt.Linear(3, 2, seed=4)
    gradients = _gradient_sequence([a], steps=3)
    _train(optim.Adam(a, lr=0.01), [a], gradients)
    _train(optim.Adam([b], lr=0.01), [b], gradients)
    for name, value in a.parameters().items():
        np.testing.assert_array_equal(value, b.parameters()[name])


def test_updates_in_place_and_sgd_rule_by_hand():
    lin = bptt.Linear(3, 2, seed=5)
    weight = lin.parameters()["weight"]
    before = weight.copy()
    lin.grads["weight"][...] = 1.0
    lin.grads["bias"][...] = -2.0
    opt = optim.SGD(lin, lr=0.5)
    opt.step()
    assert lin.parameters()["weight"] is weight
    np.testing.assert_array_equal(weight, before - 0.5)
    opt.zero_grad()
    assert not lin.grads["weight"].any() and not lin.grads["bias"].any()


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_state_dict_continues_bit_identically(case):
    cls, kwargs, _, _ = case
    modules = _modules()
    gradients = _gradient_sequence(modules)
    opt = cls(modules, **kwargs)

    # 10 steps straight, taking a checkpoint after 5 and carrying on
    _train(opt, modules, gradients[:5])
    saved_opt = opt.state_dict()
    saved_modules = [m.state_dict() for m in modules]
    _train(opt, modules, gradients[5:])
    assert saved_opt["steps"] == 5

    # a fresh run from the checkpoint: new modules, new optimizer, 5 more steps
    resumed = _modules(seed=100)
    for m, sd in zip(resumed, saved_modules, strict=True):
        m.load_state_dict(sd)
    opt2 = cls(resumed, **kwargs)
    opt2.load_state_dict(saved_opt)
    _train(opt2, resumed, gradients[5:])

    assert opt2.steps == opt.steps == STEPS
    for (p, _), (q, _) in zip(_live(modules), _live(resumed), strict=True):
        np.testing.assert_array_equal(q, p)
    final, final2 = opt.state_dict(), opt2.state_dict()
    assert final.keys() == final2.keys() and final["state"].keys() == final2["state"].keys()
    for key, value in final["state"].items():
        np.testing.assert_array_equal(final2["state"][key], value)


def test_state_dict_is_a_copy():
    modules = _modules()
    opt = optim.Adagrad(modules, lr=0.1)
    _train(opt, modules, _gradient_sequence(modules, steps=2))
    saved = opt.state_dict()
    frozen = {k: v.copy() for k, v in saved["state"].items()}
    _train(opt, modules, _gradient_sequence(modules, steps=2, seed=9))
    for key, value in frozen.items():
        np.testing.assert_array_equal(saved["state"][key], value)
    # and loading copies too: the loaded optimizer does not write into the dict
    opt2 = optim.Adagrad(modules, lr=0.1)
    opt2.load_state_dict(saved)
    _train(opt2, modules, _gradient_sequence(modules, steps=1, seed=10))
    for key, value in frozen.items():
        np.testing.assert_array_equal(saved["state"][key], value)


def test_load_state_dict_rejects_another_optimizers_state():
    modules = _modules()
    adam = optim.Adam(modules)
    _train(adam, modules, _gradient_sequence(modules, steps=1))
    with pytest.raises(ValueError, match=r"state buffer '0\.weight\.m' does not belong to this "
                                         r"Adagrad"):
        optim.Adagrad(modules).load_state_dict(adam.state_dict())
    adagrad = optim.Adagrad(modules)
    _train(adagrad, modules, _gradient_sequence(modules, steps=1))
    other = optim.Adagrad([bptt.Linear(5, 3, seed=0), modules[1]])
    with pytest.raises(ValueError, match=r"state buffer '0\.weight' must have shape \(3, 5\), "
                                         r"got \(3, 4\)"):
        other.load_state_dict(adagrad.state_dict())
    assert other.steps == 0, "a rejected state must not be half-loaded"


# -- clipping ---------------------------------------------------------------------


def _grads_with(modules, scale, seed=2):
    rng = np.random.default_rng(seed)
    arrays = []
    for _, g in _live(modules):
        g[...] = scale * rng.standard_normal(g.shape)
        arrays.append(torch.tensor(g.copy()))
    params = [torch.zeros(a.shape, dtype=torch.float64, requires_grad=True) for a in arrays]
    for p, a in zip(params, arrays, strict=True):
        p.grad = a
    return params


@pytest.mark.parametrize("clip, clips", [(0.5, True), (100.0, False)], ids=["clips", "no-op"])
def test_clip_grad_value_matches_torch(clip, clips):
    modules = _modules()
    params = _grads_with(modules, scale=2.0)
    before = [g.copy() for _, g in _live(modules)]
    torch.nn.utils.clip_grad_value_(params, clip)
    assert optim.clip_grad_value(modules, clip) is None
    for (_, g), p in zip(_live(modules), params, strict=True):
        np.testing.assert_array_equal(g, p.grad.numpy())
        assert np.abs(g).max() <= clip
    changed = any(not np.array_equal(g, old) for (_, g), old in zip(_live(modules), before,
                                                                     strict=True))
    assert changed == clips


@pytest.mark.parametrize("max_norm, clips", [(1.0, True), (100.0, False)],
                         ids=["clips", "no-op"])
def test_clip_grad_norm_matches_torch(max_norm, clips):
    modules = _modules()
    params = _grads_with(modules, scale=1.0)
    before = [g.copy() for _, g in _live(modules)]
    expected_norm = torch.nn.utils.clip_grad_norm_(params, max_norm).item()
    norm = optim.clip_grad_norm(modules, max_norm)

    assert isinstance(norm, float)
    assert_close(norm, expected_norm, RTOL, "norm")
    assert_close(norm, np.sqrt(sum(np.sum(g * g) for g in before)), RTOL, "norm by hand")
    assert (norm > max_norm) == clips
    for k, ((_, g), p, old) in enumerate(zip(_live(modules), params, before, strict=True)):
        assert_close(g, p.grad.numpy(), RTOL, f"gradient {k}")
        if not clips:
            np.testing.assert_array_equal(g, old)
    total = np.sqrt(sum(np.sum(g * g) for _, g in _live(modules)))
    assert total <= max_norm * (1 + 1e-12)
    if clips:
        assert_close(total, max_norm, 1e-5, "clipped norm")


# -- bad input --------------------------------------------------------------------


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adagrad, optim.Adam],
                         ids=["SGD", "Adagrad", "Adam"])
@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan"), float("inf")])
def test_lr_must_be_positive(cls, lr):
    with pytest.raises(ValueError, match=r"lr must be finite and > 0, got "):
        cls(bptt.Linear(2, 2, seed=0), lr=lr)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adagrad, optim.Adam],
                         ids=["SGD", "Adagrad", "Adam"])
def test_modules_must_be_bptt_modules(cls):
    with pytest.raises(ValueError, match=r"the optimizer got no parameters"):
        cls([], lr=0.1)
    with pytest.raises(TypeError, match=r"modules\[1\] must be a bptt module, got ndarray"):
        cls([bptt.Linear(2, 2, seed=0), np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match=r"modules must be a bptt module or an iterable of them, "
                                        r"got int"):
        cls(5, lr=0.1)
    torch_linear = torch.nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"modules\[0\] must be a bptt module, got Parameter"):
        cls(torch_linear.parameters(), lr=0.1)


@pytest.mark.parametrize(
    "betas, error, match",
    [
        ((1.0, 0.999), ValueError, r"betas must lie in \[0, 1\), got \(1\.0, 0\.999\)"),
        ((0.9, -0.1), ValueError, r"betas must lie in \[0, 1\), got \(0\.9, -0\.1\)"),
        ((float("nan"), 0.9), ValueError, r"betas must lie in \[0, 1\), got \(nan, 0\.9\)"),
        (0.9, TypeError, r"betas must be a pair \(beta1, beta2\), got 0\.9"),
        ((0.9, 0.99, 0.999), TypeError, r"betas must be a pair \(beta1, beta2\), "
                                        r"got \(0\.9, 0\.99, 0\.999\)"),
    ],
)
def test_bad_betas(betas, error, match):
    with pytest.raises(error, match=match):
        optim.Adam(bptt.Linear(2, 2, seed=0), betas=betas)


def test_other_bad_hyperparameters():
    lin = bptt.Linear(2, 2, seed=0)
    with pytest.raises(ValueError, match=r"momentum must be finite and >= 0, got -0\.5"):
        optim.SGD(lin, lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match=r"eps must be finite and >= 0, got -1e-08"):
        optim.Adagrad(lin, eps=-1e-8)
    with pytest.raises(ValueError, match=r"eps must be finite and >= 0, got nan"):
        optim.Adam(lin, eps=float("nan"))
    with pytest.raises(ValueError, match=r"clip_value must be finite and > 0, got 0\.0"):
        optim.clip_grad_value(lin, 0)
    with pytest.raises(ValueError, match=r"max_norm must be finite and > 0, got -1\.0"):
        optim.clip_grad_norm(lin, -1)
    with pytest.raises(TypeError, match=r"modules\[0\] must be a bptt module, got str"):
        optim.clip_grad_norm(["weight"], 1.0)
