"""``grokcheck theorem d4|d1|lemmas``: Appendix D's statements, checked exactly and numerically."""

from __future__ import annotations

from typing import Annotated

import typer

from grokcheck.cli.common import JsonOpt, console, emit_json, fmt, verdict

app = typer.Typer(help="Check Theorems D.1 and D.4 and Lemmas D.2/D.3 (Appendix D).", no_args_is_help=True)


@app.command("d4")
def d4(
    kappa: Annotated[float, typer.Option("--kappa", help="Efficiency exponent kappa > 0 (Table 1: 1.2).")] = 1.2,
    q: Annotated[float, typer.Option("--q", help="Norm exponent q > 0 of Eq. 6 (weight decay: 2).")] = 2.0,
    norms: Annotated[
        str, typer.Option("--norms", help="Comma-separated circuit norms P_i > 0, 1 to 64 of them.")
    ] = "1,2",
    alpha: Annotated[float, typer.Option("--alpha", help="Weight-decay strength alpha > 0.")] = 0.005,
    n_labels: Annotated[int, typer.Option("--n-labels", help="Number of classes (>= 2).")] = 113,
    json_out: JsonOpt = False,
) -> None:
    """Theorem D.4: optimal weights across circuits of different efficiency (Eq. 6)."""
    from grokcheck.theory.d4 import D4Config, check_d4
    from grokcheck.validate import parse_float_list

    cfg = D4Config(kappa=kappa, q=q, norms=parse_float_list("norms", norms), alpha=alpha, n_labels=n_labels)
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
    table = Table(title=f"Theorem D.4  kappa={fmt(r.kappa)}  q={fmt(r.q)}  alpha={fmt(r.alpha)}  n_labels={r.n_labels}")
    for col in ("circuit", "P_i", "predicted w_i", "numeric w_i"):
        table.add_column(col, justify="right")
    for i, (p, a, b) in enumerate(zip(r.norms, r.predicted_weights, r.numeric_weights)):
        table.add_row(str(i), fmt(p), fmt(a, 8), fmt(b, 8))
    out.print(table)
    if r.case == 1:
        out.print("case 1 (kappa >= q): all weight on the circuit(s) of minimal norm")
    else:
        out.print(f"case 2 (kappa < q): w_i proportional to P_i^exponent, exponent = -q*kappa/(q-kappa) = {r.exponent_exact}")
    if r.note:
        out.print(r.note)
    out.print(f"max relative error {r.max_rel_error:.2e} (tolerance {r.tolerance:.0e}): {verdict(r.holds)}")
