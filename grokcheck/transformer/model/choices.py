"""The names a run chooses among, as plain tuples that import nothing heavy.

The modules that act on these names import torch; the command line offers the same names
from here, so ``grokcheck --help`` starts without torch and its choices cannot drift from
what the library accepts.
"""

from __future__ import annotations

#: Power et al.'s tasks (Appendix A, Figure 8), in the order of
#: :data:`grokcheck.transformer.model.tasks.TASKS`
TASK_NAMES = (
    "add", "sub", "mul", "div", "div-odd", "sq-add", "quad1", "quad2", "cube1", "cube2",
    "s5-mul", "s5-conj", "s5-xyx",
)  # fmt: skip
#: precisions of the log-softmax (:data:`grokcheck.transformer.model.runtime.LOSS_DTYPES`)
LOSS_DTYPES = ("float64", "float32")
#: logits functions: "reference" is the model itself; "auto" is
#: :mod:`grokcheck.transformer.model.engine`'s exact table formulation where it applies (same
#: function and gradients up to rounding)
ENGINES = ("auto", "reference")
#: where a run trains (:func:`grokcheck.transformer.model.runtime.resolve_device`); "auto": CUDA
#: when available, else the CPU
DEVICES = ("auto", "cpu", "cuda")
