"""``grokcheck train``: grok (Figure 1a) or ungrok (Figure 1b, ``--ungrok N``) one transformer."""

from __future__ import annotations

import json
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
    SeedOpt,
    console,
    emit_json,
    fmt,
)


class LossDtype(str, Enum):
    float64 = "float64"
    float32 = "float32"


class Engine(str, Enum):
    auto = "auto"
    reference = "reference"


#: CLI parameter -> config field, for the options a user may pass again with --resume
TRAIN_FIELDS = {
    "task": "task",
    "p": "p",
    "train_frac": "train_frac",
    "train_size": "train_size",
    "seed": "seed",
    "steps": "steps",
    "max_steps": "max_steps",
    "eval_every": "eval_every",
    "lr": "lr",
    "weight_decay": "weight_decay",
    "eps": "eps",
    "loss_dtype": "loss_dtype",
    "engine": "engine",
}
UNGROK_FIELDS = {
    "task": "task",
    "p": "p",
    "seed": "seed",
    "eval_every": "eval_every",
    "lr": "lr",
    "weight_decay": "weight_decay",
    "eps": "eps",
    "loss_dtype": "loss_dtype",
    "engine": "engine",
    "ungrok": "reduced_size",
    "ungrok_steps": "ungrok_steps",
    "pretrain_steps": "pretrain_max_steps",
    "subset_seed": "subset_seed",
}
#: options that only make sense without --ungrok, and the option to use instead
NOT_WITH_UNGROK = {
    "train_frac": None,
    "train_size": None,
    "steps": "--ungrok-steps",
    "max_steps": "--pretrain-steps",
}


def train(
    ctx: typer.Context,
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="add, sub, mul, div, div-odd, sq-add, quad1, quad2, cube1, cube2, s5-mul, s5-conj, s5-xyx.",
        ),
    ] = "add",
    p: Annotated[int, typer.Option("--p", help="Modulus (prime for div, div-odd; ignored by S5).")] = 113,
    train_frac: Annotated[
        float | None,
        typer.Option("--train-frac", help="Train set as a fraction of the dataset [default: 0.3]."),
    ] = None,
    train_size: Annotated[
        int | None, typer.Option("--train-size", help="Train set as an exact number of examples.")
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option("--steps", help="Train exactly this many steps [default: until grokked]."),
    ] = None,
    max_steps: Annotated[
        int,
        typer.Option("--max-steps", help="Cap for 'until grokked' (test acc >= 0.99 held 500 steps)."),
    ] = 50_000,
    eval_every: Annotated[int, typer.Option("--eval-every", help="Steps between evaluations.")] = 100,
    lr: Annotated[float, typer.Option("--lr", help="AdamW learning rate.")] = 1e-3,
    weight_decay: Annotated[
        float,
        typer.Option("--weight-decay", help="AdamW weight decay (with --ungrok: of the reduced-data phase)."),
    ] = 1.0,
    eps: Annotated[float, typer.Option("--eps", help="AdamW eps (not given in the paper).")] = 1e-8,
    loss_dtype: Annotated[
        LossDtype,
        typer.Option("--loss-dtype", help="Precision of the log-softmax (float32 underflows near 1e-7)."),
    ] = LossDtype.float64,
    engine: Annotated[
        Engine,
        typer.Option("--engine", help="auto = fast exact engine; reference = the plain model."),
    ] = Engine.auto,
    ungrok: Annotated[
        int | None,
        typer.Option("--ungrok", help="Ungrok: pretrain on the full dataset, then train on N examples."),
    ] = None,
    ungrok_steps: Annotated[
        int, typer.Option("--ungrok-steps", help="Steps on the reduced dataset (the paper: 100k).")
    ] = 10_000,
    pretrain_steps: Annotated[
        int,
        typer.Option("--pretrain-steps", help="Cap on full-dataset pretraining steps (cached)."),
    ] = 5000,
    subset_seed: Annotated[
        int | None,
        typer.Option("--subset-seed", help="Seed of the reduced subset [default: --seed]."),
    ] = None,
    cache_dir: Annotated[
        Path, typer.Option("--cache-dir", help="Where pretrained networks are cached.")
    ] = Path("runs/cache"),
    threads: Annotated[
        int, typer.Option("--threads", help="CPU threads for torch (0 = torch's default).")
    ] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = Device.auto,
    out: OutOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Train the Appendix A transformer until it groks, or ungrok a grokked one (Section 5.2)."""
    from grokcheck.errors import InputError

    given = {name for name in ctx.params if _given(ctx, name)}
    values = {
        "task": task,
        "p": p,
        "train_frac": train_frac,
        "train_size": train_size,
        "seed": seed,
        "steps": steps,
        "max_steps": max_steps,
        "eval_every": eval_every,
        "lr": lr,
        "weight_decay": weight_decay,
        "eps": eps,
        "loss_dtype": loss_dtype.value,
        "engine": engine.value,
        "ungrok": ungrok,
        "ungrok_steps": ungrok_steps,
        "pretrain_steps": pretrain_steps,
        "subset_seed": subset_seed,
    }
    if threads < 0:
        raise InputError("threads", f"must be an integer >= 0, got {threads}")
    saved = _saved_config(out) if resume else None
    is_ungrok = ungrok is not None if saved is None else "reduced_size" in saved
    if saved is not None and not is_ungrok and "ungrok" in given:
        raise InputError("ungrok", f"the run in {out} is a grokking run, not an ungrokking run")
    if is_ungrok:
        for name, instead in NOT_WITH_UNGROK.items():
            if name in given:
                hint = f"; use {instead}" if instead else ""
                raise InputError(name, f"does not apply with --ungrok{hint}")
    fields = UNGROK_FIELDS if is_ungrok else TRAIN_FIELDS
    kwargs = dict(saved or {})
    for name, field in fields.items():
        if saved is None or name in given:
            kwargs[field] = values[name]

    import torch

    from grokcheck.transformer.runtime import resolve_device

    resolve_device(device.value)  # before any folder is made: a bad --device leaves nothing
    if threads:
        torch.set_num_threads(threads)
    if is_ungrok:
        from grokcheck.transformer.ungrok import UngrokConfig
        from grokcheck.transformer.ungrok import ungrok as run_ungrok

        cfg = _build(UngrokConfig, kwargs)
        run_dir = _run_dir("ungrok", out, resume)
        with _Reporter(json_out) as rep:
            result = run_ungrok(
                cfg,
                device=device.value,
                out_dir=run_dir,
                resume=resume,
                cache_dir=cache_dir,
                progress=rep.progress,
                stop=rep.stopped,
            )
        interrupted = (result.ungrok or result.pretrain).stopped == "interrupted"
    else:
        from grokcheck.transformer.train import TrainConfig
        from grokcheck.transformer.train import train as run_train

        cfg = _build(TrainConfig, kwargs)
        run_dir = _run_dir("train", out, resume)
        with _Reporter(json_out) as rep:
            result = run_train(
                cfg,
                device=device.value,
                out_dir=run_dir,
                resume=resume,
                progress=rep.progress,
                stop=rep.stopped,
            )
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


def _given(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _build(cls: type, kwargs: dict[str, Any]) -> Any:
    from grokcheck.errors import InputError

    known = {f for f in cls.__dataclass_fields__}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise InputError("resume", f"the saved config has unknown fields {unknown}")
    return cls(**kwargs)


def _saved_config(out: Path | None) -> dict[str, Any]:
    from grokcheck.errors import RunError

    if out is None:
        raise RunError("--resume needs --out DIR naming the run to continue")
    path = Path(out) / "config.json"
    if not path.is_file():
        raise RunError(f"--resume: no run to continue in {out} ({path.name} not found)")
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RunError(f"--resume: cannot read {path} ({' '.join(str(e).split())})") from None
    if not isinstance(saved, dict):
        raise RunError(f"--resume: {path} is not a run config")
    return saved


def _run_dir(kind: str, out: Path | None, resume: bool) -> Path:
    from grokcheck.runs import prepare_run_dir

    return prepare_run_dir(kind, out, resume=resume)


class _Reporter:
    """Progress on stderr (a rich bar on a terminal, else a log line per evaluation at most
    every 10 s) and Ctrl-C handling: the first Ctrl-C asks the run to checkpoint and stop,
    a second one interrupts at once."""

    LOG_EVERY_S = 10.0

    def __init__(self, quiet_json: bool) -> None:
        self.tty = sys.stderr.isatty()
        self.interrupt = False
        self._bar = None
        self._task = None
        self._phase = None
        self._last_log = -1e9
        self._last_row: dict[str, Any] | None = None
        self._old_handler = None

    def __enter__(self) -> _Reporter:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        if self._bar is not None:
            self._bar.stop()
        if self._old_handler is not None:
            signal.signal(signal.SIGINT, self._old_handler)

    def _on_sigint(self, signum: int, frame: object) -> None:
        if self.interrupt:
            raise KeyboardInterrupt
        self.interrupt = True

    def stopped(self) -> bool:
        return self.interrupt

    def progress(self, ev: Any) -> None:
        import time

        if self.tty:
            self._progress_bar(ev)
            return
        now = time.monotonic()
        if ev.row is not None and (
            now - self._last_log >= self.LOG_EVERY_S or ev.step >= ev.budget or ev.phase != self._phase
        ):
            self._phase, self._last_log = ev.phase, now
            sys.stderr.write(f"[{ev.phase}] step {ev.step}/{ev.budget} {_row_text(ev.row)}\n")
            sys.stderr.flush()

    def _progress_bar(self, ev: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        if self._bar is None:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                console=console(stderr=True),
            )
            self._bar.start()
        if ev.phase != self._phase:
            self._phase = ev.phase
            self._task = self._bar.add_task(ev.phase, total=ev.budget, info="")
        if ev.row is not None:
            self._last_row = ev.row
        info = _short_text(self._last_row, ev) if self._last_row is not None else ""
        self._bar.update(self._task, completed=ev.step, total=ev.budget, info=info)


def _short_text(row: dict[str, Any], ev: Any) -> str:
    """Loss and accuracy for a narrow bar: the last step's train figures, the last eval's test."""
    loss = ev.train_loss if ev.row is None and ev.train_loss is not None else row["train_loss"]
    acc = ev.train_acc if ev.row is None and ev.train_acc is not None else row["train_acc"]
    text = f"train {loss:.1e} {acc:.3f}"
    if row.get("test_acc") is not None:
        text += f" test {row['test_loss']:.1e} {row['test_acc']:.3f}"
    return text


def _row_text(row: dict[str, Any]) -> str:
    text = f"train loss {fmt(row['train_loss'], 3)} acc {fmt(row['train_acc'], 4)}"
    if row.get("test_acc") is not None:
        text += f" | test loss {fmt(row['test_loss'], 3)} acc {fmt(row['test_acc'], 4)}"
    return text + f" | norm {fmt(row['param_norm'], 4)}"


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


def _step(s: int | None) -> str:
    return "-" if s is None else str(s)
