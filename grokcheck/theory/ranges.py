"""The input ranges of the theory checks: what their computations handle, checked before any work.

Kept apart from the checks (no numpy here) so the CLI can quote them in ``--help`` cheaply.
Measured on the D.4 checker (see docs/testing.md): inside these ranges it finishes in seconds
and float64 neither overflows nor loses the optimum; outside them it can do either.
"""

from __future__ import annotations

#: Theorem D.4 (Eq. 6): efficiency exponent kappa
KAPPA = (0.01, 100.0)
#: Theorem D.4: norm exponent q
Q = (0.1, 10.0)
#: Theorem D.4: weight-decay strength alpha
ALPHA = (1e-8, 1e4)
#: Theorem D.4: each circuit norm P_i
NORM = (1e-3, 1e3)
#: Theorem D.4: number of circuits
MAX_CIRCUITS = 64
#: Theorem D.4: number of classes (the 1-D searches hold ~2000 x n_labels floats)
N_LABELS = (2, 1000)
#: Theorem D.4, joint: log10 of the weight bound (q ln n_labels / (alpha P_i^q))^(kappa/q) must
#: lie in this range for every circuit (above: float64 overflow and huge 1-D searches; below:
#: the bound underflows to 0)
LOG10_WEIGHT_BOUND = (-100.0, 30.0)
#: Theorem D.4, joint: the predicted largest weight must lie in this range; below it the optimum
#: is lost in float64 rounding (Eq. 6 is flat to 1e-16 there), above it the search is too long
OPTIMUM = (1e-8, 1e8)
#: Theorem D.1: random classifiers per run (~0.6 ms each)
N_CLASSIFIERS = (1, 100_000)
#: every seed
SEED = (0, 2**63 - 1)
