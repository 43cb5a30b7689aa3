"""The NumPy backend: the readable reference every other backend must match.

Each module holds one cell family. The kernels follow one convention
(llm.c's): outputs first, then what forward saves for backward, then the
inputs, then the weights. Backward writes the activation gradients (``dx``,
``dh``) and *adds* into the parameter gradients. All arrays arrive
C-contiguous, of one floating dtype, already checked by ``bptt._validation``.
"""
