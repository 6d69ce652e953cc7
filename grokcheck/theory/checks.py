"""The theory rows of ``grokcheck verify``: Theorems D.1, D.4 and Lemmas D.2, D.3."""

from __future__ import annotations

from collections.abc import Iterator

from grokcheck.verdicts import Check

#: kappa values for the D.4 grid at q = 2: both cases, near the boundary and on it
KAPPA_GRID = (0.5, 1.0, 1.2, 1.5, 1.9, 1.99, 2.0, 2.01, 2.5, 4.0)
NORM_SETS = ((1.0, 2.0), (1.0, 1.5, 2.0, 3.0))
FULL_EXTRA = ((1.0, (0.3, 0.7, 0.99, 1.0, 1.5)), (3.0, (1.0, 2.0, 2.9, 3.0, 5.0)))


def checks(quick: bool = True) -> Iterator[Check]:
    from grokcheck.theory.d1 import exact_check, find_violation, numeric_check
    from grokcheck.theory.d4 import D4Config, check_d4
    from grokcheck.theory.lemmas import check_d2, check_d3

    ex = exact_check()
    yield Check(
        "scaling a perfect classifier lowers x-ent (exact)",
        "Theorem D.1",
        f"sympy: dL/dc < 0 for 1..{len(ex.wrong_labels)} wrong labels with margins > 0",
        ex.negative_when_margins_positive and ex.undecided_when_margins_real,
    )
    num = numeric_check(n_classifiers=100 if quick else 1000)
    yield Check(
        "scaling a perfect classifier lowers x-ent (numeric)",
        "Theorem D.1",
        f"{num.n_classifiers} random classifiers: max L(ch)/L(h) = {num.max_loss_ratio:.6f} for c > 1",
        num.holds,
    )
    v = find_violation()
    yield Check(
        "without perfect accuracy, scaling up can raise the loss",
        "Theorem D.1",
        f"accuracy {v.accuracy:.2f}: L(2h) = {v.scaled_loss:.4f} > L(h) = {v.loss:.4f}"
        if v.found
        else "no counterexample found",
        v.found,
    )
    d2 = check_d2(n=5000 if quick else 100000)
    c = d2.counterexample
    yield Check(
        "(a+b)^r <= a^r + b^r for 0 < r <= 1",
        "Lemma D.2",
        f"sympy: concave, f(0)=f(1)=1; min slack {d2.min_numeric_slack:.1e}; "
        f"r={c['r']:g} breaks it ({c['lhs']:g} > {c['rhs']:g})",
        d2.holds and c["violated"],
    )
    d3 = check_d3(n=100 if quick else 1000)
    yield Check(
        "x^r - (x-e)^r > e (r x^(r-1) - c), corrected form",
        "Lemma D.3",
        f"sympy derivative; delta found for {d3.n_numeric} random cases; "
        f"as printed (delta on the right) fails at x=1, r=2, c=1",
        d3.holds and d3.as_printed_counterexample["delta_found"] is None,
    )
    grid = [(2.0, k, n) for k in KAPPA_GRID for n in NORM_SETS]
    if not quick:
        grid += [(q, k, (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)) for q, ks in FULL_EXTRA for k in ks]
    results = [check_d4(D4Config(kappa=k, q=q, norms=n)) for q, k, n in grid]
    worst = max(r.max_rel_error for r in results)
    cases = sorted({r.case for r in results})
    ratio = next(r for r in results if r.kappa == 1.2 and r.norms == (1.0, 2.0))
    w = ratio.predicted_weights
    yield Check(
        "optimal weights: case 1 (kappa >= q) and case 2 (kappa < q)",
        "Theorem D.4",
        f"{len(results)} configs, cases {cases}, worst rel. error {worst:.1e}; "
        f"Table 1: w_gen/w_mem = {w[0] / w[1]:.4f} (theory 8)",
        all(r.holds for r in results),
    )
