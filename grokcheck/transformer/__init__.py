"""The Appendix A transformer on Power et al. (2021) tasks: data, model, trainer, ungrokking.

Modules: ``tasks`` (datasets), ``model`` (the reference 1-layer transformer), ``train``
(full-batch AdamW, grokking), ``ungrok`` (Section 5.2), ``checkpoint``, ``plots``, ``checks``
(rows of ``grokcheck verify``). Importing this package imports nothing heavy; the modules
import torch.
"""
