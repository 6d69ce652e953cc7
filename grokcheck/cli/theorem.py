"""``grokcheck theorem d4|d1|lemmas``: Appendix D's statements, checked exactly and numerically."""

from __future__ import annotations

from typing import Annotated

import typer

from grokcheck.cli.common import JsonOpt, console, emit_json, fmt, verdict
from grokcheck.theory import ranges as R

app = typer.Typer(help="Check Theorems D.1 and D.4 and Lemmas D.2/D.3 (Appendix D).", no_args_is_help=True)


@app.command("d4")
def d4(
    kappa: Annotated[
        float,
        typer.Option(
            "--kappa", help=f"Efficiency exponent kappa in [{R.KAPPA[0]:g}, {R.KAPPA[1]:g}] (Table 1: 1.2)."
        ),
    ] = 1.2,
    q: Annotated[
        float,
        typer.Option("--q", help=f"Norm exponent q of Eq. 6 in [{R.Q[0]:g}, {R.Q[1]:g}] (weight decay: 2)."),
    ] = 2.0,
    norms: Annotated[
        str,
        typer.Option(
            "--norms",
            help=f"Comma-separated circuit norms P_i, each in [{R.NORM[0]:g}, {R.NORM[1]:g}], "
            f"1 to {R.MAX_CIRCUITS} of them, no empty items.",
        ),
    ] = "1,2",
    alpha: Annotated[
        float,
        typer.Option("--alpha", help=f"Weight-decay strength alpha in [{R.ALPHA[0]:g}, {R.ALPHA[1]:g}]."),
    ] = 0.005,
    n_labels: Annotated[
        int,
        typer.Option("--n-labels", help=f"Number of classes in [{R.N_LABELS[0]}, {R.N_LABELS[1]}]."),
    ] = 113,
    json_out: JsonOpt = False,
) -> None:
    """Theorem D.4: optimal weights across circuits of different efficiency (Eq. 6).

    Besides each option's range, the combination must keep the weight bound
    (q ln n_labels / (alpha P_i^q))^(kappa/q) within [1e-100, 1e30] for every circuit and the
    predicted largest weight within [1e-8, 1e8] (float64 loses the optimum outside them).
    """
    from grokcheck.theory.d4 import D4Config, check_d4
    from grokcheck.validate import parse_number_list

    parsed = parse_number_list("norms", norms, *R.NORM, max_items=R.MAX_CIRCUITS)
    cfg = D4Config(kappa=kappa, q=q, norms=parsed, alpha=alpha, n_labels=n_labels)
    result = check_d4(cfg)
    if json_out:
        emit_json(result)
    else:
        _render_d4(result)
    if not result.holds:
        raise typer.Exit(1)


def _render_d4(r) -> None:
    from rich.table import Table

    out = console()
    table = Table(
        title=f"Theorem D.4  kappa={fmt(r.kappa)}  q={fmt(r.q)}  alpha={fmt(r.alpha)}  n_labels={r.n_labels}"
    )
    for col in ("circuit", "P_i", "predicted w_i", "numeric w_i"):
        table.add_column(col, justify="right")
    for i, (p, a, b) in enumerate(zip(r.norms, r.predicted_weights, r.numeric_weights, strict=True)):
        table.add_row(str(i), fmt(p), fmt(a, 8), fmt(b, 8))
    out.print(table)
    if r.case == 1:
        out.print("case 1 (kappa >= q): all weight on the circuit(s) of minimal norm")
    else:
        out.print(
            "case 2 (kappa < q): w_i proportional to P_i^exponent, "
            f"exponent = -q*kappa/(q-kappa) = {r.exponent_exact}"
        )
    if r.note:
        out.print(r.note)
    out.print(f"max relative error {r.max_rel_error:.2e} (tolerance {r.tolerance:.0e}): {verdict(r.holds)}")


@app.command("d1")
def d1(
    seed: Annotated[int, typer.Option("--seed", help="Seed for the random classifiers, in [0, 2^63-1].")] = 0,
    n_classifiers: Annotated[
        int,
        typer.Option(
            "--n-classifiers",
            help=f"Random perfect classifiers to test, in [{R.N_CLASSIFIERS[0]}, {R.N_CLASSIFIERS[1]}].",
        ),
    ] = 200,
    json_out: JsonOpt = False,
) -> None:
    """Theorem D.1: scaling up a perfectly accurate classifier lowers cross-entropy."""
    from grokcheck.theory.d1 import check_d1

    r = check_d1(n_classifiers=n_classifiers, seed=seed)
    if json_out:
        emit_json(r)
    else:
        out = console()
        out.print(
            "Theorem D.1: if every correct logit beats every wrong one, L_xent(c h) < L_xent(h) for c > 1"
        )
        e, n, v = r.exact, r.numeric, r.violation
        out.print(
            f"  exact (sympy): d/dc L = {e.derivative} for one wrong label; negative for c, m > 0 "
            f"with 1..{len(e.wrong_labels)} wrong labels: {verdict(e.negative_when_margins_positive)}"
        )
        out.print(
            "  exact (sympy): with margins of any sign the sign is undecided: "
            f"{verdict(e.undecided_when_margins_real)}"
        )
        out.print(
            f"  numeric: {n.n_classifiers} random perfect classifiers "
            f"({n.n_examples} examples, {n.n_labels} labels), "
            f"max L(c h)/L(h) = {n.max_loss_ratio:.6f}, max dL/dc = {n.max_derivative:.3g}, "
            f"finite-difference error {n.max_fd_rel_error:.1e}: {verdict(n.holds)}"
        )
        if v.found:
            out.print(
                f"  hypothesis violated (accuracy {v.accuracy:.2f}): L({v.scale:g} h) = {v.scaled_loss:.4f} "
                f"> L(h) = {v.loss:.4f}, so perfect accuracy is needed"
            )
        else:
            out.print("  hypothesis violated: no classifier found whose loss rises when scaled")
        out.print(f"Theorem D.1: {verdict(r.holds)}")
    if not r.holds:
        raise typer.Exit(1)


@app.command("lemmas")
def lemmas(
    seed: Annotated[int, typer.Option("--seed", help="Seed for the random samples, in [0, 2^63-1].")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Lemmas D.2 and D.3, exactly where sympy can and numerically otherwise."""
    from grokcheck.theory.lemmas import check_lemmas

    r = check_lemmas(seed=seed)
    if json_out:
        emit_json(r)
    else:
        out = console()
        d2, d3 = r.d2, r.d3
        c = d2.counterexample
        out.print("Lemma D.2: (a+b)^r <= a^r + b^r for a, b >= 0 and 0 < r <= 1")
        out.print(
            f"  exact (sympy): x^r + (1-x)^r is concave on (0,1): {verdict(d2.concave_exact)}; "
            f"equals 1 at x=0 and x=1: {verdict(d2.endpoints_exact)}"
        )
        out.print(
            f"  numeric: {d2.n_numeric} random (a, b, r), min relative slack {d2.min_numeric_slack:.2e}"
        )
        out.print(
            f"  r > 1 is a counterexample: a=b=1, r={c['r']:g}: "
            f"(a+b)^r = {c['lhs']:g} > a^r + b^r = {c['rhs']:g}"
        )
        out.print(f"Lemma D.2: {verdict(d2.holds)}")
        p = d3.as_printed_counterexample
        out.print(
            "Lemma D.3 (corrected): for x > 0, r >= 1, c > 0 there is delta > 0 with "
            "x^r - (x-e)^r > e (r x^(r-1) - c) for all 0 < e < delta"
        )
        out.print(f"  exact (sympy): (x^r - (x-e)^r)/e -> r x^(r-1): {verdict(d3.derivative_exact)}")
        out.print(
            f"  numeric: a delta found for {d3.n_numeric} random (x, r, c): {verdict(d3.corrected_holds)}"
        )
        out.print(
            f"  as printed in the paper (delta instead of e on the right) it is false: at x={p['x']:g}, "
            f"r={p['r']:g}, c={p['c']:g} no delta works (the left side -> 0 as e -> 0). "
            "The proof of Theorem D.4 uses the corrected form."
        )
        out.print(f"Lemma D.3 (corrected): {verdict(d3.holds)}")
    if not r.holds:
        raise typer.Exit(1)
