"""``bptt nback``: seed 002, an Elman RNN trained by plain SGD on the n-back task.

The model is the seed's, exactly: 6 tanh hidden units, 1 input, a scalar
read-out, no biases, h_0 = 0,

    h_t = tanh(U h_{t-1} + V x_t),   y_hat_t = w . h_t,
    J   = sum_t 1/2 (y_hat_t - y_t)^2,

built from ``bptt.RNN(1, 6, bias=False)`` (U = ``weight_hh_l0``, V =
``weight_ih_l0``) and ``bptt.Linear(6, 1, bias=False)`` (w = ``weight``).
The gradients are the hand-derived ones (docs/derivations.md, section 5):
dJ/dy_hat from ``losses.sum_of_squares``, then ``Linear.backward`` and
``RNN.backward`` (BPTT). They are checked against central differences
before training, and training is refused if they disagree.

Data: x_1..x_T are independent fair bits in {0, 1}; the target is
y_t = x_{t-n} (0 for t <= n). The seed has no test set ("just focus on
driving the loss toward 0"), and its listing falls smoothly, so training
uses one fixed sequence and full-sequence gradient steps until J < 0.05.
With T = 50 and lr = 0.01 this reached J < 0.05 for 100 of 100 seeds
(n = 2: median ~70 iterations, at most ~400; well under a second). As a
check that the net learned n-back rather than the sequence, the result also
reports J on a fresh sequence of the same length (``held_out_loss``),
typically about 0.07 for n = 2.

Randomness: one ``numpy.random.default_rng(seed)`` draws, in this order, the
RNN weights, w, the training sequence, and the held-out sequence.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from .. import losses
from .._gradcheck import GradcheckResult, gradcheck
from ..layers import RNN
from ..linear import Linear
from ..optim import SGD
from ._args import BACKENDS, COUNT, NON_NEGATIVE, POSITIVE, POSITIVE_INT, as_flags, out_dir

Array = np.ndarray

HIDDEN_SIZE = 6  # the seed's 6 tanh units
DEFAULTS = {"n": 2, "length": 50, "lr": 0.01, "iterations": 5000, "target_loss": 0.05,
            "seed": 0, "print_every": 5}
GRADCHECK_TOLERANCE = 1e-6
PROGRESS_AFTER = 2.0  # seconds
DIVERGED = 1e6  # stop once J exceeds this many times max(J at the start, 1)
INSTALL_HINT = 'pip install "bptt[all]"'
#: run_nback's arguments as the flags that set them, for error messages.
_FLAGS = {name: "--" + name.replace("_", "-") for name in (*DEFAULTS, "out", "backend")}


def _optional(module: str):
    """The module, or None if it is not installed (matplotlib and tqdm are extras)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _note_missing(module: str, consequence: str) -> None:
    """One line on stderr, where the bar would be: what is skipped and how to get it."""
    print(f"bptt nback: note: {module} is not installed, so {consequence}; "
          f"install it with `{INSTALL_HINT}`", file=sys.stderr)


def _integer(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _finite_or_none(value: float) -> float | None:
    """JSON has no inf or NaN: such a value is written as null."""
    return value if math.isfinite(value) else None


def nback_data(length: int, n: int = 2, rng: np.random.Generator | None = None
               ) -> tuple[Array, Array]:
    """A random bit sequence and its n-back targets, both (length, 1) float64.

    x_t is 0 or 1 with probability 1/2; y_t = x_{t-n}, and y_t = 0 for the
    first n steps (there is nothing n steps back yet).
    """
    if not 0 <= n < length:
        raise ValueError(f"n must satisfy 0 <= n < length, got n={n}, length={length}")
    rng = np.random.default_rng() if rng is None else rng
    x = rng.integers(0, 2, size=(length, 1)).astype(np.float64)
    y = np.zeros_like(x)
    y[n:] = x[: length - n]
    return x, y


def make_model(rng: np.random.Generator, backend: str = "auto") -> tuple[RNN, Linear]:
    """The seed 002 network: RNN(1, 6, tanh, no biases) and the read-out w, float64."""
    rnn = RNN(1, HIDDEN_SIZE, bias=False, nonlinearity="tanh", backend=backend, rng=rng)
    readout = Linear(HIDDEN_SIZE, 1, bias=False, rng=rng)
    return rnn, readout


def seed_parameters(rnn: RNN, readout: Linear) -> dict[str, Array]:
    """The live weight arrays under the seed's names: U (6, 6), V (6, 1), w (1, 6)."""
    p = rnn.parameters()
    return {"U": p["weight_hh_l0"], "V": p["weight_ih_l0"], "w": readout.parameters()["weight"]}


def loss(rnn: RNN, readout: Linear, x: Array, y: Array) -> float:
    """J for one sequence, forward only (the RNN keeps no cache)."""
    training = rnn.training
    rnn.eval()
    try:
        h, _ = rnn.forward(x)  # (T, 6), h_0 = 0
        return losses.sum_of_squares(readout.forward(h), y)[0]
    finally:
        rnn.train(training)


def loss_and_gradients(rnn: RNN, readout: Linear, x: Array, y: Array
                       ) -> tuple[float, dict[str, Array]]:
    """J and dJ/dU, dJ/dV, dJ/dw for one sequence, by BPTT.

    Clears the gradients first; the returned arrays are the modules' live
    gradient buffers (what the optimizer reads), keyed like ``seed_parameters``.
    """
    rnn.zero_grad()
    readout.zero_grad()
    h, _ = rnn.forward(x)  # (T, 6)
    y_hat = readout.forward(h)  # (T, 1)
    J, dy_hat = losses.sum_of_squares(y_hat, y)  # dJ/dy_hat = y_hat - y
    rnn.backward(readout.backward(dy_hat))  # dJ/dw, then BPTT for dJ/dU, dJ/dV
    g = rnn.grads
    return J, {"U": g["weight_hh_l0"], "V": g["weight_ih_l0"], "w": readout.grads["weight"]}


def check_gradients(rnn: RNN, readout: Linear, x: Array, y: Array) -> GradcheckResult:
    """Relative error of the BPTT gradients against central differences of J."""
    _, analytic = loss_and_gradients(rnn, readout, x, y)
    analytic = {k: g.copy() for k, g in analytic.items()}
    return gradcheck(lambda: loss(rnn, readout, x, y), seed_parameters(rnn, readout), analytic)


def _plot(path: Path, history: list[float], n: int, length: int, target_loss: float) -> bool:
    """loss.png: J against the iteration, log y, the target as a dashed line.
    Without matplotlib, says so and returns False."""
    # import the top-level package first: a missing one must not be masked by
    # submodules some earlier import left in sys.modules
    if _optional("matplotlib") is None:
        _note_missing("matplotlib", f"there is no {path.name}")
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)  # Agg, without touching pyplot's global state
    ax = fig.add_subplot()
    values = np.array(history)
    values[~np.isfinite(values)] = np.nan  # a diverged run's last value; not drawn
    ax.plot(np.arange(len(values)), values, lw=1.5, label="J (training sequence)")
    ax.axhline(target_loss, color="tab:red", ls="--", lw=1, label=f"J = {target_loss:g}")
    ax.set_yscale("log")
    ax.set_xlabel("SGD iteration")
    ax.set_ylabel(r"$J = \sum_t \frac{1}{2}(\hat{y}_t - y_t)^2$")
    ax.set_title(f"{n}-back, RNN with {HIDDEN_SIZE} tanh units, T = {length}, plain SGD")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def run_nback(
    n: int = 2,
    length: int = 50,
    lr: float = 0.01,
    iterations: int = 5000,
    target_loss: float = 0.05,
    seed: int = 0,
    out: str | Path | None = None,
    progress: bool = True,
    *,
    print_every: int = 5,
    verbose: bool = True,
    gradcheck_tolerance: float = GRADCHECK_TOLERANCE,
    backend: str = "auto",
) -> dict:
    """Train the seed 002 network on n-back until J < target_loss or ``iterations`` steps.

    Checks the gradients first and raises ``RuntimeError`` if any relative
    error exceeds ``gradcheck_tolerance``. Prints J every ``print_every``
    iterations (and the last one) when ``verbose``; shows a tqdm bar when
    ``progress`` and training lasts more than 2 s (without tqdm, a plain
    progress line on stderr every 2 s). With ``out``, writes ``result.json``
    and, if matplotlib is installed, ``loss.png`` there; a missing matplotlib
    or tqdm only prints a note. Returns what result.json holds:
    the settings, ``final_loss``, ``reached``, ``iterations`` (SGD steps
    taken), ``seconds`` (the training loop), ``gradcheck`` (relative errors),
    ``held_out_loss`` and ``loss_history`` (J before each step, then after the last).
    """
    length = _integer("length", length, 1)
    n = _integer("n", n, 0)
    if n >= length:
        raise ValueError(f"n must be smaller than length={length}, got {n}")
    iterations = _integer("iterations", iterations, 0)
    if not (math.isfinite(target_loss) and target_loss >= 0):
        raise ValueError(f"target_loss must be finite and >= 0, got {target_loss}")
    print_every = max(int(print_every), 1)
    say = print if verbose else (lambda *a, **k: None)
    out = None if out is None else Path(out)
    tqdm = _optional("tqdm") if progress else None

    rng = np.random.default_rng(seed)
    rnn, readout = make_model(rng, backend)
    x, y = nback_data(length, n, rng)
    optimizer = SGD([rnn, readout], lr=lr)
    settings = {"n": n, "length": length, "lr": float(lr), "max_iterations": iterations,
                "target_loss": float(target_loss), "seed": seed, "hidden_size": HIDDEN_SIZE,
                "inputs": "bits in {0, 1}", "backend": rnn.backend, "dtype": "float64"}
    say(f"bptt nback: {n}-back, RNN(1, {HIDDEN_SIZE}, tanh, no biases) + w, T={length}, "
        f"lr={lr:g}, seed={seed}, backend={rnn.backend}")

    check = check_gradients(rnn, readout, x, y)
    say("gradient check against central differences, relative error:")
    for name, error in check.errors.items():
        say(f"  dJ/d{name}  {error:.2e}  ({check.checked[name]} entries)")
    if not check.passed(gradcheck_tolerance):
        raise RuntimeError(f"gradient check failed: largest relative error {check.max_error:.2e} "
                           f"> {gradcheck_tolerance:.0e}; refusing to train")

    say(f"J, every {print_every} iterations:")
    history: list[float] = []
    bar = None  # a progress bar only once the run has taken PROGRESS_AFTER seconds
    next_line = None  # without tqdm: when the next plain progress line is due
    start = time.perf_counter()
    step = 0
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run ends as below
        while True:
            J, _ = loss_and_gradients(rnn, readout, x, y)
            history.append(J)
            diverged = not J <= DIVERGED * max(history[0], 1.0)  # also true for inf, nan
            done = J < target_loss or step == iterations or diverged
            if step % print_every == 0 or done:
                if bar is not None and verbose:
                    bar.write(f"{J:.10g}")
                else:
                    say(f"{J:.10g}")
            if done:
                break
            optimizer.step()
            step += 1
            if bar is not None:
                bar.update()
            elif progress and time.perf_counter() - start > PROGRESS_AFTER:
                if tqdm is not None:
                    bar = tqdm.tqdm(total=iterations, initial=step, unit="it")
                elif next_line is None or time.perf_counter() >= next_line:
                    if next_line is None:
                        _note_missing("tqdm", "progress is shown as plain lines, not a bar")
                    # what the bar would show, on stderr like it: stdout stays the list of J
                    now = time.perf_counter()
                    print(f"iteration {step}/{iterations}, {now - start:.1f} s", file=sys.stderr)
                    next_line = now + PROGRESS_AFTER
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()

    with np.errstate(over="ignore", invalid="ignore"):
        held_out = loss(rnn, readout, *nback_data(length, n, rng))
    final = history[-1]
    result = {
        **settings,
        "final_loss": final,
        "reached": bool(final < target_loss),
        "diverged": diverged,
        "iterations": step,
        "seconds": seconds,
        "gradcheck": check.errors,
        "held_out_loss": held_out,
        "loss_history": history,
    }
    if result["reached"]:
        say(f"reached J < {target_loss:g}: J = {final:.10g} after {step} iterations, "
            f"{seconds:.2f} s")
    elif diverged:
        say(f"diverged: J = {final:.4g} after {step} iterations (try a smaller --lr)")
    else:
        say(f"did NOT reach J < {target_loss:g} in {step} iterations: J = {final:.10g}")
    say(f"J on a fresh sequence of the same length (not trained on): "
        f"{result['held_out_loss']:.4g}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        plotted = _plot(out / "loss.png", history, n, length, target_loss)
        saved = dict(result, final_loss=_finite_or_none(final),
                     held_out_loss=_finite_or_none(held_out),
                     loss_history=[_finite_or_none(v) for v in history])
        (out / "result.json").write_text(json.dumps(saved, indent=2) + "\n")
        written = ([out / "loss.png"] if plotted else []) + [out / "result.json"]
        say("wrote " + " and ".join(str(path) for path in written))
    return result


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``bptt nback``."""
    d = DEFAULTS
    p = subparsers.add_parser(
        "nback",
        help="seed 002: train a 6-unit tanh RNN by SGD on the n-back task until J < 0.05",
        description="Seed 002: an Elman RNN (6 tanh units, 1 input, scalar read-out, no "
                    "biases) trained by plain SGD with hand-derived BPTT gradients on the "
                    "n-back task (target_t = x_{t-n}) over one fixed random bit sequence. "
                    "Checks the gradients first, prints J as it falls, writes loss.png and "
                    "result.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--n", type=COUNT, default=d["n"], help="how many steps back the target is")
    p.add_argument("--length", type=POSITIVE_INT, default=d["length"], help="sequence length T")
    p.add_argument("--lr", type=POSITIVE, default=d["lr"], help="SGD learning rate")
    p.add_argument("--iterations", type=COUNT, default=d["iterations"],
                   help="maximum number of SGD steps")
    p.add_argument("--target-loss", type=NON_NEGATIVE, default=d["target_loss"],
                   help="stop once J falls below this")
    p.add_argument("--seed", type=COUNT, default=d["seed"], help="seed for weights and data")
    p.add_argument("--out", type=out_dir, default="runs/nback",
                   help="directory for loss.png and result.json")
    p.add_argument("--print-every", type=POSITIVE_INT, default=d["print_every"],
                   help="print J every this many iterations")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="kernel backend")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    return p


def run_cli(args: argparse.Namespace) -> int:
    """Run ``bptt nback`` from parsed arguments: 0 if J < target, 1 if not (or if
    the gradient check failed), 2 on bad input."""
    if args.n >= args.length:  # each flag alone was checked by argparse
        print(f"bptt nback: error: --n must be smaller than --length ({args.length}), "
              f"got {args.n}", file=sys.stderr)
        return 2
    try:
        result = run_nback(args.n, args.length, args.lr, args.iterations, args.target_loss,
                           args.seed, args.out, not args.no_progress,
                           print_every=args.print_every, backend=args.backend)
    except (ImportError, RuntimeError) as exc:
        print(f"bptt nback: error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        print(f"bptt nback: error: {as_flags(str(exc), _FLAGS)}", file=sys.stderr)
        return 2
    return 0 if result["reached"] else 1
