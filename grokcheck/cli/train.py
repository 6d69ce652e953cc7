"""``grokcheck train``: grok (Figure 1a) or ungrok (Figure 1b, ``--ungrok N``) one transformer.

Options default to ``None``: the configs (:class:`~grokcheck.transformer.training.train.TrainConfig`,
:class:`~grokcheck.transformer.training.ungrok.UngrokConfig`) hold the only defaults. On ``--resume`` the
saved config is merged with the options given (:func:`grokcheck.configs.merge_resumed`).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from grokcheck.cli.common import Device, DeviceOpt, JsonOpt, OutOpt, console, emit_json, fmt
from grokcheck.cli.progress import TrainReporter
from grokcheck.transformer.training.convergence import PRETRAIN_MAX_STEPS


class Task(str, Enum):
    add = "add"
    sub = "sub"
    mul = "mul"
    div = "div"
    div_odd = "div-odd"
    sq_add = "sq-add"
    quad1 = "quad1"
    quad2 = "quad2"
    cube1 = "cube1"
    cube2 = "cube2"
    s5_mul = "s5-mul"
    s5_conj = "s5-conj"
    s5_xyx = "s5-xyx"


class LossDtype(str, Enum):
    float64 = "float64"
    float32 = "float32"


class Engine(str, Enum):
    auto = "auto"
    reference = "reference"


class Until(str, Enum):
    grokked = "grokked"
    converged = "converged"


#: options of grokking runs only / of ungrokking runs only (with the option to use instead)
TRAIN_ONLY = {
    "train_frac": None,
    "train_size": None,
    "steps": "--ungrok-steps",
    "max_steps": "--ungrok-max-steps",
    "random_labels": None,
    "until": None,
    "data_seed": "--subset-seed",
}
UNGROK_ONLY = {
    "ungrok_steps": None,
    "ungrok_max_steps": None,
    "pretrain_steps": None,
    "subset_seed": None,
    "cache_dir": None,
}
#: options that set the pretrained network of an ungrokking run (PretrainConfig's fields)
PRETRAIN_FIELDS = {"task": "task", "p": "p", "seed": "seed", "pretrain_steps": "max_steps"}


def train(
    task: Annotated[Task | None, typer.Option("--task", help="The dataset [default: add].")] = None,
    p: Annotated[
        int | None, typer.Option("--p", help="Modulus (prime for div, div-odd; not for S5) [default: 113].")
    ] = None,
    train_frac: Annotated[
        float | None,
        typer.Option("--train-frac", help="Train set as a fraction of the dataset [default: 0.3]."),
    ] = None,
    train_size: Annotated[
        int | None, typer.Option("--train-size", help="Train set as an exact number of examples.")
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option("--steps", help="Train exactly this many steps [default: until --until fires]."),
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Step cap for --until [default: 50000].")
    ] = None,
    until: Annotated[
        Until | None,
        typer.Option(
            "--until",
            help="Stop rule: grokked (test acc >= 0.99 held) or converged "
            "[default: grokked; converged with --random-labels].",
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
    eval_every: Annotated[
        int | None, typer.Option("--eval-every", help="Steps between evaluations [default: 100].")
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="AdamW learning rate [default: 1e-3].")] = None,
    weight_decay: Annotated[
        float | None,
        typer.Option(
            "--weight-decay",
            help="AdamW weight decay (with --ungrok: of the reduced-data phase) [default: 1.0].",
        ),
    ] = None,
    eps: Annotated[
        float | None, typer.Option("--eps", help="AdamW eps (not given in the paper) [default: 1e-8].")
    ] = None,
    loss_dtype: Annotated[
        LossDtype | None,
        typer.Option(
            "--loss-dtype",
            help="Precision of the log-softmax (float32 underflows near 1e-7) [default: float64].",
        ),
    ] = None,
    engine: Annotated[
        Engine | None, typer.Option("--engine", help="auto = fast exact engine; reference = the plain model.")
    ] = None,
    data_seed: Annotated[
        int | None,
        typer.Option("--data-seed", help="Seed of the train split and random labels [default: --seed]."),
    ] = None,
    ungrok: Annotated[
        int | None,
        typer.Option("--ungrok", help="Ungrok: pretrain on the full dataset, then train on N examples."),
    ] = None,
    ungrok_steps: Annotated[
        int | None,
        typer.Option(
            "--ungrok-steps", help="A fixed number of reduced-data steps [default: to convergence]."
        ),
    ] = None,
    ungrok_max_steps: Annotated[
        int | None, typer.Option("--ungrok-max-steps", help="Cap on reduced-data steps [default: 100000].")
    ] = None,
    pretrain_steps: Annotated[
        int | None,
        typer.Option(
            "--pretrain-steps",
            help=f"Cap on full-dataset pretraining steps (cached) [default: {PRETRAIN_MAX_STEPS}].",
        ),
    ] = None,
    subset_seed: Annotated[
        int | None, typer.Option("--subset-seed", help="Seed of the reduced subset [default: --seed].")
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Where pretrained networks are cached [default: runs/cache]."),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="CPU threads for torch (0 = torch's default).", min=0, max=1024),
    ] = None,
    checkpoint_every: Annotated[
        int | None,
        typer.Option(
            "--checkpoint-every", help="Steps between checkpoints [default: 1000; also every 60 s]."
        ),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Initialisation seed [default: 0].")] = None,
    device: DeviceOpt = Device.auto,
    out: OutOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Train the Appendix A transformer until it groks, or ungrok a grokked one (Section 5.2)."""
    options = dict(locals())  # first: the options only
    given = {
        k: (v.value if isinstance(v, Enum) else v)
        for k, v in options.items()
        if k not in ("resume", "device", "out", "json_out", "threads") and v is not None
    }
    from grokcheck.errors import InputError
    from grokcheck.transformer.training.pretrain import DEFAULT_CACHE
    from grokcheck.transformer.model.runtime import configure, resolve_device

    if resume and out is None:
        raise InputError("resume", "needs --out DIR naming the run to continue")
    saved_kind, saved = _saved(out) if resume else (None, None)
    is_ungrok = saved_kind == "ungrok" if saved is not None else ungrok is not None
    if saved is not None and not is_ungrok and "ungrok" in given:
        raise InputError("ungrok", f"the run in {out} is a grokking run, not an ungrokking run")
    for name, instead in (TRAIN_ONLY if is_ungrok else UNGROK_ONLY).items():
        if name in given:
            hint = f"; use {instead}" if instead else ""
            raise InputError(name, f"does not apply {'with' if is_ungrok else 'without'} --ungrok{hint}")
    if (given.get("task") or "add").startswith("s5") and "p" in given:
        raise InputError("p", "the S5 tasks have no modulus")
    dev = resolve_device(device.value)  # before any folder is made: a bad --device leaves nothing
    cache = given.get("cache_dir", DEFAULT_CACHE)
    cfg = _ungrok_config(given, saved) if is_ungrok else _train_config(given, saved)
    if out is not None and not resume:
        from grokcheck.runs import preflight_writable

        preflight_writable(out, "--out")
    if is_ungrok:
        from grokcheck.runs import preflight_writable

        preflight_writable(cache, "--cache-dir")
    configure(dev, threads=threads or None)
    run_dir = _run_dir("ungrok" if is_ungrok else "train", out, resume)
    with TrainReporter() as rep:
        if is_ungrok:
            from grokcheck.transformer.training.ungrok import ungrok as run_ungrok

            result = run_ungrok(cfg, device=device.value, out_dir=run_dir, resume=resume, cache_dir=cache,
                                progress=rep.progress, stop=rep.stopped)  # fmt: skip
            interrupted = (result.ungrok or result.pretrain).stopped == "interrupted"
        else:
            from grokcheck.transformer.training.train import train as run_train

            result = run_train(cfg, device=device.value, out_dir=run_dir, resume=resume,
                               progress=rep.progress, stop=rep.stopped)  # fmt: skip
            interrupted = result.stopped == "interrupted"
    if json_out:
        emit_json(result)
    elif is_ungrok:
        _render_ungrok(result)
    else:
        _render_train(result)
    if interrupted:
        sys.stderr.write(
            f"grokcheck: interrupted; checkpoint saved in {run_dir}; continue with "
            f"grokcheck train --out {run_dir} --resume\n"
        )
        raise typer.Exit(130)


def _saved(out: Path) -> tuple[str, dict[str, Any]]:
    from grokcheck.errors import RunError
    from grokcheck.transformer.training.checkpoint import read_saved_config

    if not Path(out).is_dir():
        raise RunError(f"--resume: no run to continue in {out} (no such folder)")
    from grokcheck.transformer.training.run_folder import split_kind

    return split_kind(read_saved_config(out), Path(out) / "config.json")


def _train_config(given: dict[str, Any], saved: dict[str, Any] | None) -> Any:
    from grokcheck.configs import merge_resumed
    from grokcheck.transformer.training.run_folder import RESUMABLE_CHANGES
    from grokcheck.transformer.training.train import TrainConfig

    if saved is None:
        return TrainConfig(**given)
    return merge_resumed(TrainConfig, saved, given, RESUMABLE_CHANGES)


def _ungrok_config(given: dict[str, Any], saved: dict[str, Any] | None) -> Any:
    import dataclasses

    from grokcheck.configs import from_jsonable, merge_resumed
    from grokcheck.errors import InputError
    from grokcheck.transformer.training.pretrain import PretrainConfig
    from grokcheck.transformer.training.run_folder import RESUMABLE_CHANGES
    from grokcheck.transformer.training.ungrok import UngrokConfig

    pre = {PRETRAIN_FIELDS[k]: given.pop(k) for k in list(given) if k in PRETRAIN_FIELDS}
    if "ungrok" in given:
        given["reduced_size"] = given.pop("ungrok")
    given.pop("cache_dir", None)
    if saved is None:
        return UngrokConfig(pretrain=PretrainConfig(**pre), **given)
    base = from_jsonable(UngrokConfig, saved)
    for field, value in pre.items():
        if getattr(base.pretrain, field) != value:
            flag = next(k for k, f in PRETRAIN_FIELDS.items() if f == field)
            raise InputError(
                flag, f"differs from the run being resumed ({getattr(base.pretrain, field)!r} there)"
            )
    cfg = merge_resumed(UngrokConfig, saved, given, RESUMABLE_CHANGES)
    return dataclasses.replace(cfg, pretrain=base.pretrain)


def _run_dir(kind: str, out: Path | None, resume: bool) -> Path:
    from grokcheck.runs import prepare_run_dir

    return prepare_run_dir(kind, out, resume=resume)


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
    from grokcheck.cli.progress import percent

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
