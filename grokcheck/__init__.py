"""grokcheck: verify "Explaining grokking through circuit efficiency" (Varma et al., 2023).

Subpackages: ``theory`` (Theorems D.1/D.4, Lemmas D.2/D.3; sympy + scipy), ``sim`` (the
Appendix C toy model, Figure 2), ``transformer`` (the Appendix A model and trainer, torch),
``experiments`` (predictions P1-P4 as sweeps) and ``cli`` (the ``grokcheck`` command).
Heavy dependencies are imported inside the modules that need them, never here.
"""

__version__ = "0.1.0"
