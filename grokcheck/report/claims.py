"""The paper's sentence behind each prediction verdict, and where its thresholds come from.

Each rule of :mod:`grokcheck.experiments.predictions` tests one or two sentences of the paper
(Varma et al., 2023); docs/predictions.md quotes the same sentences. The threshold texts are
built from the rules' own constants, so the numbers a report shows are the numbers the rules
use. Mathematical symbols are written in plain text (D_crit, D', C_gen, C_mem).

A verdict measured on another task carries the task in brackets (``"P2 [sub]"``, Figure 8);
it tests the same sentence as on addition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from grokcheck.report.content import Quote


@dataclass(frozen=True)
class PaperClaim:
    """The paper's sentences a verdict tests, and where the rule's numbers come from."""

    quotes: tuple[Quote, ...]
    thresholds: str


_TASK = re.compile(r" \[[^\]]+\]$")


def base_name(name: str) -> str:
    """A verdict's name without its task: ``"P3 (D_crit) [sub]"`` -> ``"P3 (D_crit)"``."""
    return _TASK.sub("", name)


def claim_for(name: str) -> PaperClaim | None:
    """The :class:`PaperClaim` of verdict ``name`` (any task), or ``None`` for other rows."""
    return claims().get(base_name(name))


@cache
def claims() -> dict[str, PaperClaim]:
    """Every prediction verdict's :class:`PaperClaim`, by verdict name."""
    from grokcheck.experiments.convcheck import ACC_TOL
    from grokcheck.experiments.hysteresis import CIRCUIT_RTOL, SAME_TOL, Q
    from grokcheck.experiments.predictions import (
        ACC_WD_TOL,
        FIG7_STEP,
        FLAT_TOL,
        HIGH,
        LOW,
        MID_HI,
        MID_LO,
        N_BOOT,
        N_BUCKETS,
        PAPER_SEMI_RATE,
        PREDICT_FACTOR,
        SHARP_FACTOR,
        SIGNIFICANCE,
        TRAIN_FULL,
        WD_FACTOR,
    )
    from grokcheck.transformer.analysis.dominance import FIT_FRACTION, TRIG_GEN, TRIG_MEM

    middling = (
        f"Middling = test accuracy in ({MID_LO}, {MID_HI}) with train accuracy >= {TRAIN_FULL}; "
        "Figure 1c's 0.83, Figure 6's ~0.55 and Appendix A.2's ~0.7 all lie inside"
    )
    return {
        "P1": PaperClaim(
            (
                Quote(
                    "memorisation efficiency decreases with increasing train dataset size, while "
                    "generalisation efficiency stays constant",
                    "Section 5.1 (P1)",
                ),
            ),
            f"Logits bucketed geometrically into {N_BUCKETS} buckets, as Figure 3 does; one slope "
            "of norm against ln D per circuit with a 95% t interval. The paper gives no number for "
            f'"stays constant": C_gen counts as flat when its interval holds 0 or |slope| < '
            f"{FLAT_TOL:g} norm units per e-fold of D (grokcheck's tolerance).",
        ),
        "D_crit": PaperClaim(
            (
                Quote(
                    "memorising circuits become more inefficient with larger training datasets while "
                    "generalising circuits do not, suggesting there is a critical dataset size at which "
                    "memorisation and generalisation are equally efficient",
                    "Abstract",
                ),
                Quote("ungrokking should only be expected once D' < D_crit", "Section 4.2"),
            ),
            "The paper gives no number for D_crit and no procedure to estimate it; a factor "
            f"{PREDICT_FACTOR:g} is the spread its own estimates imply (ungrokking middling at "
            '800-1000, semi-grokking at 1500-2050, both "around D_crit"). D_crit predicted has a '
            f"95% bootstrap interval over seeds ({N_BOOT} resamples).",
        ),
        "P2": PaperClaim(
            (
                Quote(
                    "if we vary D' we predict that there will be a sharp transition from very strong "
                    "to near-random test accuracy (around D_crit)",
                    "Section 4.2",
                ),
                Quote("ungrokking shows a phase transition around D_crit", "Section 5"),
            ),
            '"Very strong" and "near-random" carry no numbers in the paper: Figure 4\'s curves run '
            f"from ~1 to below 0.1 and Figure 7's from near 1 to near 0, so {HIGH} and {LOW} are "
            'generous readings. "Sharp" is Figure 7\'s own span: its whole transition lies among '
            f"7 sizes in [390, 1494], a factor 3.83, rounded up to {SHARP_FACTOR:g}.",
        ),
        "P3 (D_crit)": PaperClaim(
            (
                Quote(
                    "since D_crit does not depend on weight decay, we predict the amount of "
                    "'forgetting' (i.e. the test accuracy at convergence) also does not depend on "
                    "weight decay",
                    "Section 4.2",
                ),
            ),
            f"{WD_FACTOR:g} is two steps of Figure 7's geometric grid ({FIG7_STEP:.3f}^2 = "
            f"{FIG7_STEP**2:.3f}, rounded down): the resolution at which Figure 4 could show its "
            "curves apart, where it shows them on top of each other.",
        ),
        "P3 (accuracy)": PaperClaim(
            (
                Quote(
                    "the final test accuracy after ungrokking is independent of the strength of weight decay",
                    "Section 5",
                ),
            ),
            f"{ACC_WD_TOL:g} is twice the {ACC_TOL:g} by which a converged run may still move (the "
            "convergence check); where the seeds alone differ by more at a D', that spread is "
            'allowed ("D_crit is affected by the random initialisation", Section 5.3).',
        ),
        "P4 (scratch)": PaperClaim(
            (
                Quote(
                    "Out of 200 runs, at least 6 show clear semi-grokking at the end of training", "Figure 5"
                ),
            ),
            f"{middling}. No middling run refutes the claim only where the paper's rate of "
            f"{PAPER_SEMI_RATE * 200:g} in 200 makes none unlikely: (1 - {PAPER_SEMI_RATE:g})^n < "
            f"{SIGNIFICANCE:g} for the n converged runs that fit their train set.",
        ),
        "P4 (ungrok)": PaperClaim(
            (
                Quote(
                    "For an intermediate dataset size, we see ungrokking to middling test accuracy as "
                    "C_gen and C_mem efficiencies are balanced",
                    "Figure 7",
                ),
                Quote(
                    "Figure 7 shows ungrokking runs that achieve a test accuracy of ~0.7 with a "
                    "dataset size of around 800-1000",
                    "Appendix A.2",
                ),
            ),
            f"{middling}. FAIL needs 3 or more converged runs within one of Figure 7's grid steps "
            f"(x{FIG7_STEP:.3f}) of their seed's D_crit, where Figure 7's runs end middling.",
        ),
        "Hysteresis": PaperClaim(
            (Quote("Our theory does not say which of the two cases will arise in practice", "Section 4.2"),),
            f"Beyond the paper: Theorem D.4's case 1 (kappa >= q = {Q:g}) predicts two end states "
            "(one per basin), case 2 one middling state. A pair counts when both runs converged and "
            f"o_t, o_m moved by at most {CIRCUIT_RTOL:.0%} over the last window; two runs are in "
            f"the same state within {SAME_TOL:g} test accuracy.",
        ),
        "Circuit measures": PaperClaim(
            (
                Quote(
                    "These metrics should be viewed as an imperfect proxy measure for the true strength "
                    "of the trigonometric and memorisation circuits",
                    "Appendix B",
                ),
            ),
            f"Beyond the paper: a second measure (Nanda et al.'s restricted and excluded loss) labels "
            f"each converged run; Appendix B's reads C_gen above trig fraction {TRIG_GEN:g} and C_mem "
            f"below {TRIG_MEM:g}, the progress measures read a part as fitting below "
            f"{FIT_FRACTION:g} log p train loss. FAIL when any run is C_gen by one and C_mem by the other.",
        ),
    }
