"""Measurements of a network and the figures drawn from them.

Modules: ``circuits`` (Appendix B's C_gen/C_mem split of the logits), ``progress_measures``
(key frequencies, restricted and excluded loss), ``dominance`` (whether the two readings of
which circuit dominates agree), ``kappa`` (Theorem D.4's kappa from a trained network),
``loss_precision`` (would a float32 loss have collapsed), ``plots`` (Figure 1-style curves) and
``circuit_plots`` (Figures 3 and 9). They depend on ``model`` only.
"""
