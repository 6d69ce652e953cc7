"""``grokcheck sim``: the toy model of Section 3 / Appendix C, Figure 2's panels, and the
cross-check of where gradient descent converges against Theorem D.4."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from grokcheck.cli.common import JsonOpt, OutOpt, console, emit_json, fmt, verdict
from grokcheck.cli.progress import Reporter


class Figure(str, Enum):
    fig2 = "2"
    fig2a = "2a"
    fig2b = "2b"
    fig2c = "2c"


def _opt(flag: str, help: str, name: str):
    from grokcheck.sim.model import range_text

    return typer.Option(
        flag, help=f"{help} Range {range_text(name)}. Default: Table 1's value for the panel."
    )


def _setting(flag: str, help: str, name: str):
    from grokcheck.sim.model import SETTINGS_RANGES, range_text

    return typer.Option(flag, help=f"{help} Range {range_text(name, SETTINGS_RANGES)}.")


FloatOpt = float | None


def sim(
    fig: Annotated[
        Figure, typer.Option("--fig", help="Panel of Figure 2 (2a, 2b, 2c), or 2 for all three side by side.")
    ] = Figure.fig2,
    steps: Annotated[int | None, _opt("--steps", "Gradient steps to simulate and plot.", "steps")] = None,
    P_g: Annotated[FloatOpt, _opt("--p-g", "Parameter norm P_g of C_gen at unit weight.", "P_g")] = None,
    P_m: Annotated[FloatOpt, _opt("--p-m", "Parameter norm P_m of C_mem at unit weight.", "P_m")] = None,
    kappa: Annotated[FloatOpt, _opt("--kappa", "Efficiency exponent: P' = |w|^(1/kappa) P.", "kappa")] = None,
    alpha: Annotated[FloatOpt, _opt("--alpha", "Weight-decay strength alpha (0: none).", "alpha")] = None,
    w_g1: Annotated[FloatOpt, _opt("--w-g1", "Initial subweight w_g1.", "w_g1")] = None,
    w_g2: Annotated[FloatOpt, _opt("--w-g2", "Initial subweight w_g2.", "w_g2")] = None,
    w_m1: Annotated[FloatOpt, _opt("--w-m1", "Initial subweight w_m1.", "w_m1")] = None,
    w_m2: Annotated[FloatOpt, _opt("--w-m2", "Initial subweight w_m2.", "w_m2")] = None,
    n_labels: Annotated[
        int | None, _opt("--n-labels", "Number of labels, Appendix C's q.", "n_labels")
    ] = None,
    lr: Annotated[FloatOpt, _opt("--lr", "Learning rate lambda.", "lr")] = None,
    wd_half: Annotated[
        bool, typer.Option("--wd-half", help="Use Eq. 2's alpha/2 instead of Appendix C's alpha.")
    ] = False,
    threshold: Annotated[
        float, _setting("--threshold", "Loss (nats) whose first crossing is reported.", "threshold")
    ] = 1.0,
    tol: Annotated[
        float,
        _setting(
            "--tol", "Converged when the weights change by less than this (relative) over 1000 steps.", "tol"
        ),
    ] = 1e-11,
    max_steps: Annotated[
        int, _setting("--max-steps", "Cap on the steps of the run to convergence (>= --steps).", "max_steps")
    ] = 2_000_000,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write the PNG figures.")] = True,
    out: OutOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Simulate Figure 2 (Appendix C's toy model) and check the converged weights against Theorem D.4.

    Losses are Appendix C's (cross-entropy plus L_wd); the cross-entropies alone are reported
    beside them. Progress of long runs goes to stderr.
    """
    from grokcheck.sim.run import Settings, report_json, run_sim

    given = {
        "steps": steps,
        "P_g": P_g,
        "P_m": P_m,
        "kappa": kappa,
        "alpha": alpha,
        "w_g1": w_g1,
        "w_g2": w_g2,
        "w_m1": w_m1,
        "w_m2": w_m2,
        "n_labels": n_labels,
        "lr": lr,
    }
    overrides = {k: v for k, v in given.items() if v is not None}
    if wd_half:
        overrides["wd_half"] = True
    settings = Settings(threshold=threshold, tol=tol, max_steps=max_steps)
    with Reporter("sim", quiet_s=2.0) as progress:
        report = run_sim(
            fig.value, overrides, settings=settings, out=out, figures=plots, progress=progress.sim
        )
    if json_out:
        emit_json(report_json(report))
    else:
        _render(report)
    if report.holds is False:
        raise typer.Exit(1)


def _render(report) -> None:
    con = console()

    def say(text: str) -> None:
        con.print(text, soft_wrap=True)  # one line per fact, whatever the terminal width

    for r in report.panels:
        c, g, t, f = r.params, r.grokking, r.theorem, r.final
        say(
            f"[bold]Figure {r.figure}[/]  P_g={fmt(c.P_g)} P_m={fmt(c.P_m)} kappa={fmt(c.kappa)} "
            f"alpha={fmt(c.alpha)} w(0)=({fmt(c.w_g1)}, {fmt(c.w_g2)}, {fmt(c.w_m1)}, {fmt(c.w_m2)}) "
            f"n_labels={c.n_labels} lr={fmt(c.lr)}{'  (alpha/2)' if c.wd_half else ''}"
        )
        gx = r.grokking_xent
        say(
            f"  step {f.step}: train loss {fmt(f.train_loss, 4)}, test loss {fmt(f.test_loss, 4)} "
            f"(Appendix C, with L_wd {fmt(f.wd_loss, 4)}); cross-entropy train {fmt(f.train_xent, 4)}, "
            f"test {fmt(f.test_xent, 4)}; w_gen {fmt(f.w_gen, 4)}, w_mem {fmt(f.w_mem, 4)}, "
            f"parameter norm {fmt(f.param_norm, 4)}"
        )
        say(
            f"  w_gen > w_mem from step {_step(g.gen_overtakes_mem)}; w_gen >= {fmt(g.onset)} from step "
            f"{_step(g.gen_onset)}; loss < {fmt(g.threshold)}: train at step {_step(g.train_below)}, "
            f"test at step {_step(g.test_below)} (delay {_step(g.delay)}); cross-entropy: train at "
            f"step {_step(gx.train_below)}, test at step {_step(gx.test_below)} (delay {_step(gx.delay)})"
        )
        end = r.converged
        rows = [
            ("", "steps", "w_gen", "w_mem", "w_gen/w_mem", "loss"),
            (
                "Theorem D.4 optimum",
                "",
                fmt(t.theorem_w_gen, 8),
                fmt(t.theorem_w_mem, 8),
                _ratio(t.theorem_ratio, t.theorem_w_mem),
                fmt(t.theorem_loss, 8),
            ),
            (
                "gradient descent",
                f"{end.steps}" + ("" if end.converged else " (cap)"),
                fmt(end.w_gen, 8),
                fmt(end.w_mem, 8),
                _ratio(end.ratio, end.w_mem),
                fmt(end.loss, 8),
            ),
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(6)]
        for row in rows:
            cells = (f"  {x:>{w}}" for x, w in zip(row[1:], widths[1:], strict=True))
            say("  " + row[0].ljust(widths[0]) + "".join(cells))
        if t.applicable:
            say(
                f"  case {t.case} (kappa {'>=' if t.case == 1 else '<'} q = 2); weight error "
                f"{t.weight_error:.1e} (tolerance {t.tolerance:.0e}); matches the optimum: "
                f"{'yes' if t.matches_optimum else 'no'}"
            )
        if t.note:
            say(f"  {t.note}")
        say(f"  cross-check: {verdict(r.holds) if r.holds is not None else 'not applicable'}")
    if report.captions:
        say(
            "[bold]Figure 2's caption claims[/] (losses with L_wd as in Appendix C; each row also "
            "gives the cross-entropy figure)"
        )
        for row in report.captions:
            say(f"  {verdict(row.holds)}  {row.source}: {row.name}: {row.figure}")
    if report.out:
        say(f"wrote {', '.join(report.files)} to {report.out}")


def _step(x: int | None) -> str:
    return "never" if x is None else str(x)


def _ratio(ratio: float | None, w_mem: float | None) -> str:
    if ratio is None:
        return "inf" if w_mem == 0 else "-"
    return fmt(ratio, 8)
