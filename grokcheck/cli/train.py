"""``grokcheck train``: grok (Figure 1a) or ungrok (Figure 1b, ``--ungrok N``) one transformer.

Parse -> :func:`~grokcheck.transformer.training.plan.plan_train` (which kind of run, its config,
its folders) -> :func:`~grokcheck.transformer.training.train.train` or
:func:`~grokcheck.transformer.training.ungrok.ungrok` -> render. Options default to ``None``: the
configs hold the only defaults, and ``--help`` shows them as read from the configs.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from grokcheck.cli.common import (
    Device,
    DeviceOpt,
    JsonOpt,
    OutOpt,
    choices,
    console,
    emit_json,
    fmt,
    stop_on_sigint,
)
from grokcheck.cli.progress import Reporter, percent
from grokcheck.transformer.model.choices import ENGINES, LOSS_DTYPES, TASK_NAMES
from grokcheck.transformer.training.convergence import UNTIL
from grokcheck.transformer.training.metrics import INTERRUPTED

Task = choices("Task", TASK_NAMES)
LossDtype = choices("LossDtype", LOSS_DTYPES)
Engine = choices("Engine", ENGINES)
Until = choices("Until", UNTIL)

#: options of the command itself, not of the run's config
OWN = ("resume", "device", "out", "json_out", "threads")


def help_defaults() -> dict[str, str]:
    """``--help``'s defaults, read from the configs when the help is shown."""
    from grokcheck.transformer.training.plan import option_defaults

    return {name: f" [default: {text}]" for name, text in option_defaults().items()}


def train(
    task: Annotated[Task | None, typer.Option("--task", help="The dataset.")] = None,
    p: Annotated[
        int | None, typer.Option("--p", help="Modulus (prime for div, div-odd; not for S5).")
    ] = None,
    train_frac: Annotated[
        float | None, typer.Option("--train-frac", help="Train set as a fraction of the dataset.")
    ] = None,
    train_size: Annotated[
        int | None, typer.Option("--train-size", help="Train set as an exact number of examples.")
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option("--steps", help="Train exactly this many steps.  [default: until --until fires]"),
    ] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Step cap for --until.")] = None,
    until: Annotated[
        Until | None,
        typer.Option(
            "--until",
            help="Stop rule: grokked (test acc >= 0.99 held) or converged.  "
            "[default: grokked; converged with --random-labels]",
        ),
    ] = None,
    random_labels: Annotated[
        bool | None,
        typer.Option("--random-labels", help="Train on uniformly random labels (Section 5.1: C_mem only)."),
    ] = None,
    circuits: Annotated[
        bool | None,
        typer.Option(
            "--circuits",
            help="Record Appendix B's circuit logits and Nanda et al.'s restricted/excluded loss "
            "at each evaluation (addition).",
        ),
    ] = None,
    eval_every: Annotated[int | None, typer.Option("--eval-every", help="Steps between evaluations.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="AdamW learning rate.")] = None,
    weight_decay: Annotated[
        float | None,
        typer.Option("--weight-decay", help="AdamW weight decay (with --ungrok: of the reduced-data phase)."),
    ] = None,
    eps: Annotated[float | None, typer.Option("--eps", help="AdamW eps (not given in the paper).")] = None,
    loss_dtype: Annotated[
        LossDtype | None,
        typer.Option("--loss-dtype", help="Precision of the log-softmax (float32 underflows near 1e-7)."),
    ] = None,
    engine: Annotated[
        Engine | None, typer.Option("--engine", help="auto = fast exact engine; reference = the plain model.")
    ] = None,
    data_seed: Annotated[
        int | None,
        typer.Option("--data-seed", help="Seed of the train split and random labels.  [default: --seed]"),
    ] = None,
    ungrok: Annotated[
        int | None,
        typer.Option("--ungrok", help="Ungrok: pretrain on the full dataset, then train on N examples."),
    ] = None,
    ungrok_steps: Annotated[
        int | None,
        typer.Option(
            "--ungrok-steps", help="A fixed number of reduced-data steps.  [default: to convergence]"
        ),
    ] = None,
    ungrok_max_steps: Annotated[
        int | None, typer.Option("--ungrok-max-steps", help="Cap on reduced-data steps.")
    ] = None,
    pretrain_steps: Annotated[
        int | None, typer.Option("--pretrain-steps", help="Cap on full-dataset pretraining steps (cached).")
    ] = None,
    subset_seed: Annotated[
        int | None, typer.Option("--subset-seed", help="Seed of the reduced subset.  [default: --seed]")
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Where pretrained networks are cached.")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="CPU threads for torch (0 = torch's default).", min=0, max=1024),
    ] = None,
    checkpoint_every: Annotated[
        int | None, typer.Option("--checkpoint-every", help="Steps between checkpoints.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Initialisation seed.")] = None,
    device: DeviceOpt = Device.auto,
    out: OutOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Train the Appendix A transformer until it groks, or ungrok a grokked one (Section 5.2)."""
    # first, while the parameters are the only locals
    options = {k: (v.value if isinstance(v, Enum) else v) for k, v in locals().items() if k not in OWN}
    from grokcheck.transformer.training.plan import plan_train
    from grokcheck.transformer.training.train import train as run_train
    from grokcheck.transformer.training.ungrok import ungrok as run_ungrok

    plan = plan_train(options, out=out, resume=resume, device=device.value, threads=threads)
    with stop_on_sigint() as stop, Reporter("train") as progress:
        if plan.kind == "ungrok":
            result = run_ungrok(plan.config, device=plan.device, out_dir=plan.run_dir, resume=plan.resume,
                                cache_dir=plan.cache_dir, progress=progress.training, stop=stop)  # fmt: skip
        else:
            result = run_train(plan.config, device=plan.device, out_dir=plan.run_dir, resume=plan.resume,
                               progress=progress.training, stop=stop)  # fmt: skip
    if json_out:
        emit_json(result)
    elif plan.kind == "ungrok":
        _render_ungrok(result)
    else:
        _render_train(result)
    last = (result.ungrok or result.pretrain) if plan.kind == "ungrok" else result  # the phase that ran last
    if last.stopped == INTERRUPTED:
        sys.stderr.write(
            f"grokcheck: interrupted; checkpoint saved in {plan.run_dir}; continue with "
            f"grokcheck train --out {plan.run_dir} --resume\n"
        )
        raise typer.Exit(130)


def _render_train(r: Any, title: str | None = None) -> None:
    from rich.table import Table

    out = console()
    f = r.final
    table = Table(
        title=title
        or f"{r.task}{'' if r.p is None else f' mod {r.p}'}: "
        f"train {r.train_size}, test {r.test_size}, {r.steps} steps ({r.stopped})"
    )
    for col in ("", "loss", "accuracy"):
        table.add_column(col, justify="right")
    table.add_row("train", fmt(f.train_loss, 4), fmt(f.train_acc, 4))
    if f.test_acc is not None:
        table.add_row("test", fmt(f.test_loss, 4), fmt(f.test_acc, 4))
    out.print(table)
    out.print(
        f"train acc 100% at step {_step(r.step_train_100)}; test acc >= 95% at "
        f"{_step(r.step_test_95)}, >= 99% at {_step(r.step_test_99)}; parameter norm "
        f"{fmt(f.param_norm, 4)}"
    )
    if r.train_acc_drops:
        out.print(
            f"train accuracy fell below 100% on {r.train_acc_drops} steps after reaching it "
            f"(loss dtype {r.loss_dtype})"
        )
    if r.step_collapse_f32 is not None:
        out.print(_collapse_text(r))
    if r.note:
        out.print(r.note)
    out.print(f"{r.wall_s:.1f} s on {r.device}" + (f"; run folder {r.out_dir}" if r.out_dir else ""))


def _render_ungrok(r: Any) -> None:
    out = console()
    pre = r.pretrain
    src = f"cached ({r.cache_path})" if r.pretrain_cached else f"{pre.wall_s:.1f} s"
    out.print(
        f"pretrain on all {pre.train_size} examples: {pre.steps} steps ({pre.stopped}), "
        f"train acc {fmt(pre.final.train_acc, 4)}, loss {fmt(pre.final.train_loss, 3)}, "
        f"norm {fmt(pre.final.param_norm, 4)}; {src}"
    )
    if pre.step_collapse_f32 is not None:
        out.print(f"pretrain: {_collapse_text(pre)}")
    if r.ungrok is None:
        return
    _render_train(
        r.ungrok,
        title=f"ungrok: train on D'={r.reduced_size}, test on the other "
        f"{r.ungrok.test_size}, {r.ungrok.steps} steps",
    )
    fell = _step(r.step_test_below_half)
    out.print(
        f"test accuracy first below 0.5 at step {fell}" + (f"; run folder {r.out_dir}" if r.out_dir else "")
    )


def _collapse_text(r: Any) -> str:
    f = r.final
    share = "-" if f.collapse_f32 is None else percent(f.collapse_f32)
    effect = (
        "this run's loss was float32, so those examples gave no gradient to their correct logit"
        if r.loss_dtype == "float32"
        else "this run's float64 loss kept their gradient"
    )
    return (
        f"float32 softmax collapse first at step {r.step_collapse_f32}; at the last evaluation {share} "
        f"of train examples had a float32 loss of exactly 0 (largest float64 - float32 loss gap "
        f"{fmt(f.loss_gap_f32, 2)}); {effect}"
    )


def _step(s: int | None) -> str:
    return "-" if s is None else str(s)
