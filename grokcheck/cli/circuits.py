"""``grokcheck circuits``: Appendix B's C_trig / C_mem measurements of a saved addition run, and
Nanda et al.'s progress measures as a second, independent reading."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from grokcheck.cli.common import Device, DeviceOpt, JsonOpt, console, emit_json, fmt


def circuits(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by 'grokcheck train --out DIR'.")],
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="Checkpoint file to measure [default: RUN_DIR/checkpoint.pt]."),
    ] = None,
    device: DeviceOpt = Device.auto,
    json_out: JsonOpt = False,
) -> None:
    """Split a modular-addition network's logits into trigonometric and memorising parts
    (Appendix B), read the same split from Nanda et al.'s restricted and excluded loss, say which
    circuit dominates under each, and measure its kappa (Theorem D.4: case 1 if kappa >= q = 2,
    case 2 if below)."""
    from grokcheck.transformer.circuit_runs import circuits_of_run

    r = circuits_of_run(run_dir, checkpoint=checkpoint, device=device.value)
    if json_out:
        emit_json(r.to_json())
        return
    _render(r)


def _render(r: Any) -> None:
    m, pm, dom, kappa, case = r.circuits, r.progress, r.dominance, r.kappa, r.d4_case
    out = console()
    keys = ", ".join(f"{k} ({share:.0%})" for k, share in m.key_frequencies) or "-"
    rows = [
        ("parameter norm", fmt(m.param_norm, 5)),
        ("trig fraction ||Z_T||^2/||Z||^2", fmt(m.trig_fraction, 4)),
        ("C_gen-only (> 0.95)", "yes" if m.gen_only else "no"),
        ("key frequencies k (from Z_T)", keys),
        (
            "kappa (margin ~ scale^kappa)",
            f"{fmt(kappa, 4)}: Theorem D.4 case {case} (q = 2)" if case else f"none ({r.kappa_error})",
        ),
    ]
    out.print(f"grokcheck circuits: add mod {m.p}, {m.n_train} train / {m.n_test} test inputs")
    for name, value in rows:
        out.print(f"  {name:<32} {value}", soft_wrap=True)
    out.print(f"  {'mean correct logit':<32} {'train':>10} {'test':>10}")
    for name, tr, te in (
        ("C_trig (o_t)", m.o_t_train, m.o_t_test),
        ("C_mem (o_m)", m.o_m_train, m.o_m_test),
        ("network (centred)", m.correct_logit_train, m.correct_logit_test),
    ):
        out.print(f"  {name:<32} {fmt(tr, 5):>10} {fmt(te, 5):>10}")
    pkeys = ", ".join(map(str, pm.key_frequencies)) or "-"
    energy = f"{pm.key_share:.0%} of its Fourier energy, {'sparse' if pm.sparse else 'not sparse'}"
    out.print("progress measures (Nanda et al., 2023):")
    out.print(f"  {'key frequencies k (from W_E)':<32} {pkeys} ({energy})", soft_wrap=True)
    out.print(f"  {'loss':<32} {'train':>10} {'test':>10}")
    for name, tr, te in (
        ("network", pm.train_loss, pm.test_loss),
        ("restricted (key frequencies)", pm.restricted_loss_train, pm.restricted_loss_test),
        ("excluded (without them)", pm.excluded_loss_train, pm.excluded_loss_test),
        ("chance (log p)", pm.chance_loss, pm.chance_loss),
    ):
        out.print(f"  {name:<32} {fmt(tr, 5):>10} {fmt(te, 5):>10}")
    agree = "agree" if dom.agree else "conflict" if dom.conflict else "differ"
    verdicts = f"Appendix B: {dom.appendix_b}, progress measures: {dom.progress} ({agree})"
    out.print(f"  {'dominant circuit':<32} {verdicts}", soft_wrap=True)
