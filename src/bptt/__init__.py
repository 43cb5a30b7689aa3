"""bptt: fast CPU recurrent-network kernels with hand-derived backpropagation through time.

Every kernel exists three times behind one API: a readable NumPy reference,
a Numba-jitted loop and a Cython-compiled loop. ``bptt.backends()`` says
which of them this installation has, fastest first.

>>> import numpy as np, bptt
>>> cell = bptt.GRU_Cell(3, 4, seed=0)
>>> h = cell.forward(np.ones(3), np.zeros(4))
>>> dx, dh = cell.backward(np.ones((1, 4)))
"""

from . import losses, optim
from ._backend import backends, get_backend, unavailable
from ._gradcheck import GradcheckResult, gradcheck
from ._threads import get_num_threads, set_num_threads
from .cells import GRU_Cell, GRUCell, LSTMCell, RNNCell
from .layers import GRU, LSTM, RNN, LayerNormGRU, LayerNormLSTM, count_parameters
from .linear import Linear

__version__ = "0.1.0"

from ._backend import warn_without_cython  # noqa: E402 - after the API it describes

warn_without_cython()

__all__ = [
    "GradcheckResult",
    "Linear",
    "gradcheck",
    "losses",
    "optim",
    "GRU",
    "LSTM",
    "LayerNormGRU",
    "LayerNormLSTM",
    "RNN",
    "count_parameters",
    "GRU_Cell",
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "backends",
    "get_backend",
    "unavailable",
    "get_num_threads",
    "set_num_threads",
    "__version__",
]
