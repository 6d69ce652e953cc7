"""``grokcheck experiment NAME``: run one of the paper's experiments and give its verdicts.

One subcommand per experiment (:data:`grokcheck.experiments.grid.EXPERIMENTS`), each: parse ->
:class:`~grokcheck.experiments.run.ExperimentConfig` -> :func:`~grokcheck.experiments.run.run_experiment`
-> render. Options default to ``None``, so the config and the scale's grid hold the only defaults
(``--help`` reads them from the config). A rerun with the same ``--out`` resumes: finished runs
are skipped.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from grokcheck.cli.common import (
    Device,
    JsonOpt,
    choices,
    console,
    emit_json,
    help_from,
    stop_on_sigint,
    warn_line,
)
from grokcheck.cli.progress import Reporter
from grokcheck.experiments import grid
from grokcheck.experiments.executors import EXECUTORS

Scale = choices("Scale", grid.SCALES)
Executor = choices("Executor", EXECUTORS)

app = typer.Typer(
    help="Run one of the paper's experiments to convergence and give its verdicts (a rerun resumes).",
    no_args_is_help=True,
)


# the options every experiment takes, defined once
ScaleOpt = Annotated[Scale | None, typer.Option("--scale", help="The grid's scale:")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Experiment folder; a rerun resumes it.")]
POpt = Annotated[int | None, typer.Option("--p", help="Modulus (overrides the scale's).")]
SizesOpt = Annotated[str | None, typer.Option("--sizes", help="Train sizes D or D', comma-separated.")]
WeightDecaysOpt = Annotated[
    str | None, typer.Option("--weight-decays", help="Weight decays, comma-separated.")
]
SeedsOpt = Annotated[str | None, typer.Option("--seeds", help="Seeds, comma-separated.")]
MaxStepsOpt = Annotated[int | None, typer.Option("--max-steps", help="Cap on steps per run.")]
LrOpt = Annotated[float | None, typer.Option("--lr", help="AdamW learning rate (overrides the scale's).")]
TasksOpt = Annotated[
    str | None, typer.Option("--tasks", "--task", help="Tasks, comma-separated (see grokcheck train).")
]
ExecutorOpt = Annotated[Executor | None, typer.Option("--executor", help="local (here) or dask.")]
SchedulerOpt = Annotated[
    str | None, typer.Option("--scheduler", help="Dask scheduler address.  [default: a LocalCluster]")
]
DeviceOpt = Annotated[
    Device | None,
    typer.Option("--device", help="auto = CUDA when available, else CPU.", case_sensitive=False),
]
MaxChunkOpt = Annotated[int | None, typer.Option("--max-chunk", help="Most runs trained as one batch.")]

#: the most values one comma-separated option takes
MAX_ITEMS = 1000
#: a result file in the folder that fails its checks: one warning line each
WARN = warn_line("experiment")


def _help(name: str) -> Callable[[], dict[str, str]]:
    """``--help``'s texts read from the library when shown: each scale's modulus (from the grid)
    and the defaults of ExperimentConfig."""

    def texts() -> dict[str, str]:
        import dataclasses

        from grokcheck.experiments.run import ExperimentConfig

        cfg = ExperimentConfig(name)
        ps = {s: sorted({sw.p for sw in grid.sweeps(name, s)}) for s in grid.SCALES}
        scales = " or ".join(f"{s} (p={'/'.join(map(str, p))})" for s, p in ps.items())
        out = {"scale": f"{scales}.  [default: {cfg.scale}]"}
        out |= {k: f" [default: {getattr(cfg, k)}]" for k in ("executor", "device", "max_chunk")}
        out["out"] = f" [default: {dataclasses.replace(cfg, scale='SCALE').folder()}]"
        return out

    return texts


@app.command("ungrok", cls=help_from(_help("ungrok")))
def ungrok(
    scale: ScaleOpt = None,
    out: OutOpt = None,
    p: POpt = None,
    sizes: SizesOpt = None,
    weight_decays: WeightDecaysOpt = None,
    seeds: SeedsOpt = None,
    max_steps: MaxStepsOpt = None,
    lr: LrOpt = None,
    tasks: TasksOpt = None,
    executor: ExecutorOpt = None,
    scheduler: SchedulerOpt = None,
    device: DeviceOpt = None,
    max_chunk: MaxChunkOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Ungrokking on addition: test accuracy vs D' per weight decay (Figures 4, 7, 10; P2, P3)."""
    from grokcheck.experiments.run import run_experiment

    cfg = _config("ungrok", locals())
    with stop_on_sigint() as stop, Reporter("experiment", every_s=30.0) as progress:
        result = run_experiment(cfg, progress=partial(progress.sweep, cfg.name), stop=stop, warn=WARN)
    _render(result, json_out)


@app.command("tasks", cls=help_from(_help("tasks")))
def tasks(
    scale: ScaleOpt = None,
    out: OutOpt = None,
    p: POpt = None,
    sizes: SizesOpt = None,
    weight_decays: WeightDecaysOpt = None,
    seeds: SeedsOpt = None,
    max_steps: MaxStepsOpt = None,
    lr: LrOpt = None,
    tasks: TasksOpt = None,
    executor: ExecutorOpt = None,
    scheduler: SchedulerOpt = None,
    device: DeviceOpt = None,
    max_chunk: MaxChunkOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Ungrokking on the nine other tasks (Figure 8; P2, P3 per task)."""
    from grokcheck.experiments.run import run_experiment

    cfg = _config("tasks", locals())
    with stop_on_sigint() as stop, Reporter("experiment", every_s=30.0) as progress:
        result = run_experiment(cfg, progress=partial(progress.sweep, cfg.name), stop=stop, warn=WARN)
    _render(result, json_out)


@app.command("semigrok", cls=help_from(_help("semigrok")))
def semigrok(
    scale: ScaleOpt = None,
    out: OutOpt = None,
    p: POpt = None,
    sizes: SizesOpt = None,
    weight_decays: WeightDecaysOpt = None,
    seeds: SeedsOpt = None,
    max_steps: MaxStepsOpt = None,
    lr: LrOpt = None,
    tasks: TasksOpt = None,
    executor: ExecutorOpt = None,
    scheduler: SchedulerOpt = None,
    device: DeviceOpt = None,
    max_chunk: MaxChunkOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Grokking from scratch just above D_crit (Figures 5, 6; P4)."""
    from grokcheck.experiments.run import run_experiment

    cfg = _config("semigrok", locals())
    with stop_on_sigint() as stop, Reporter("experiment", every_s=30.0) as progress:
        result = run_experiment(cfg, progress=partial(progress.sweep, cfg.name), stop=stop, warn=WARN)
    _render(result, json_out)


@app.command("efficiency", cls=help_from(_help("efficiency")))
def efficiency(
    scale: ScaleOpt = None,
    out: OutOpt = None,
    p: POpt = None,
    sizes: SizesOpt = None,
    weight_decays: WeightDecaysOpt = None,
    seeds: SeedsOpt = None,
    max_steps: MaxStepsOpt = None,
    lr: LrOpt = None,
    tasks: TasksOpt = None,
    executor: ExecutorOpt = None,
    scheduler: SchedulerOpt = None,
    device: DeviceOpt = None,
    max_chunk: MaxChunkOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """C_mem-only and C_gen-only networks vs D (Figure 3; P1, D_crit predicted)."""
    from grokcheck.experiments.run import run_experiment

    cfg = _config("efficiency", locals())
    with stop_on_sigint() as stop, Reporter("experiment", every_s=30.0) as progress:
        result = run_experiment(cfg, progress=partial(progress.sweep, cfg.name), stop=stop, warn=WARN)
    _render(result, json_out)


@app.command("hysteresis", cls=help_from(_help("hysteresis")))
def hysteresis(
    scale: ScaleOpt = None,
    out: OutOpt = None,
    p: POpt = None,
    sizes: SizesOpt = None,
    weight_decays: WeightDecaysOpt = None,
    seeds: SeedsOpt = None,
    max_steps: MaxStepsOpt = None,
    lr: LrOpt = None,
    tasks: TasksOpt = None,
    executor: ExecutorOpt = None,
    scheduler: SchedulerOpt = None,
    device: DeviceOpt = None,
    max_chunk: MaxChunkOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Near D_crit, the same D from a grokked network and from scratch (Theorem D.4's cases)."""
    from grokcheck.experiments.run import run_experiment

    cfg = _config("hysteresis", locals())
    with stop_on_sigint() as stop, Reporter("experiment", every_s=30.0) as progress:
        result = run_experiment(cfg, progress=partial(progress.sweep, cfg.name), stop=stop, warn=WARN)
    _render(result, json_out)


def _config(name: str, options: Mapping[str, Any]) -> Any:
    """The subcommand's options (its locals) as the experiment's config; the comma-separated
    lists parsed strictly by :mod:`grokcheck.validate`, ``None`` left to the config and grid."""
    from grokcheck import validate
    from grokcheck.experiments.run import ExperimentConfig

    def parsed(key: str, parse: Callable[..., tuple[Any, ...]], *bounds: Any) -> tuple[Any, ...] | None:
        text = options[key]
        return None if text is None else parse(key, text, *bounds, max_items=MAX_ITEMS)

    overrides = grid.GridOverrides(
        p=options["p"],
        sizes=parsed("sizes", validate.parse_int_list, 0, validate.SEED_MAX),
        weight_decays=parsed("weight_decays", validate.parse_number_list, 0.0, math.inf),
        seeds=parsed("seeds", validate.parse_int_list, 0, validate.SEED_MAX),
        max_steps=options["max_steps"],
        lr=options["lr"],
        tasks=parsed("tasks", validate.parse_name_list),
    )
    own = ("scale", "out", "executor", "scheduler", "device", "max_chunk")
    given = {k: options[k].value if isinstance(options[k], Enum) else options[k] for k in own}
    return ExperimentConfig(name=name, grid=overrides, **{k: v for k, v in given.items() if v is not None})


def _render(result: Any, json_out: bool) -> None:
    """The result on stdout (``--json``: one object); exit status 130 when it was interrupted."""
    if json_out:
        emit_json(result.to_json())
    else:
        _table(result)
    if result.interrupted:
        sys.stderr.write(
            f"grokcheck: interrupted: {len(result.records)}/{result.n_total} runs finished in {result.out}; "
            "run the same command again to resume\n"
        )
        raise typer.Exit(130)


def _table(result: Any) -> None:
    from rich.markup import escape

    c = console()
    c.print(
        f"{result.config.name} ({result.config.scale}): {len(result.records)}/{result.n_total} runs "
        f"finished ({result.n_skipped} from before), {sum(r.converged for r in result.records)} "
        f"converged; folder {result.out}"
    )
    for v in result.verdicts:
        if v.status != "not_run":
            c.print(
                f"  {_STATUS[v.status]}  " + escape(f"{v.source:<22} {v.name}: {v.figure}"), soft_wrap=True
            )
    for f in result.figures:
        c.print(f"  figure: {f}")


_STATUS = {"pass": "[bold green]PASS[/]", "fail": "[bold red]FAIL[/]", "not_run": "[yellow]NOT RUN[/]"}
