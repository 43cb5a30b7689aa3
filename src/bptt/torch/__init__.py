"""bptt.torch: torch.nn's recurrent modules on bptt's kernels.

Change the import, keep the training loop::

    from bptt.torch import GRU          # instead of torch.nn.GRU
    model = GRU(65, 128, num_layers=2, dropout=0.1)
    output, h_n = model(x)              # x: a float32/float64 CPU tensor or PackedSequence
    output.sum().backward()             # gradients of x, h0 and every parameter

``GRU``, ``RNN``, ``LSTM``, ``GRUCell``, ``RNNCell`` and ``LSTMCell`` subclass
the matching ``torch.nn`` class: same constructor, parameters, state dicts
and results (float64 to rounding). Each call runs bptt's forward and
backward through one ``torch.autograd.Function``. Calls bptt cannot run
(CUDA or MPS tensors, float16/bfloat16, ``torch.jit`` tracing and
``torch.onnx.export``, ``torch.compile``, tensor subclasses) run torch's own
implementation, with a warning naming the reason the first time.
``GRU(..., variant="seed")`` and ``GRU_Cell`` are the seed homework's GRU
as torch modules. ``backend=`` picks bptt's backend, as everywhere in bptt.

Threads: a ``GRU``, ``RNN`` or ``LSTM`` call runs on torch's threads, at most
``torch.get_num_threads()`` of them (and at most ``bptt.get_num_threads()``,
bptt's own limit). The batch rows bptt splits across threads run in one
parallel region of torch's OpenMP runtime, on torch's own worker threads:
those keep spinning for a few milliseconds after each torch operation, and
threads of bptt's own would share the cores with them. Without torch's
OpenMP runtime (another threading backend), bptt's own threads run them.
"""

try:
    import torch as _torch  # noqa: F401 - only to fail early with a clear message
except ImportError:  # pragma: no cover - the test environment has torch
    raise ImportError(
        "bptt.torch needs PyTorch: pip install torch (for the CPU-only build: "
        "pip install torch --index-url https://download.pytorch.org/whl/cpu)"
    ) from None

from ._cells import GRU_Cell, GRUCell, LSTMCell, RNNCell
from ._layers import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell", "GRU_Cell"]
