"""``grokcheck experiment NAME``: run one of the paper's experiments and give its verdicts.

Parse -> :class:`ExperimentConfig` -> :func:`run_experiment` -> render. Options default to
``None`` so the config (and the scale's grid) holds the only defaults. A rerun with the same
``--out`` resumes: finished runs are skipped.
"""

from __future__ import annotations

import inspect
import math
import sys
import typing
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from grokcheck.cli.common import JsonOpt, console, emit_json, stop_on_sigint, warn_line
from grokcheck.experiments.executors import EXECUTORS
from grokcheck.experiments.grid import EXPERIMENTS, SCALES

# the choices are the library's own tuples (a new experiment, scale or executor appears here)
Name = Enum("Name", {n: n for n in EXPERIMENTS}, type=str)
Scale = Enum("Scale", {n: n for n in SCALES}, type=str)
Executor = Enum("Executor", {n: n for n in EXECUTORS}, type=str)


app = typer.Typer(
    help="Run one of the paper's experiments to convergence and give its verdicts (a rerun resumes).",
    no_args_is_help=True,
)

#: the per-run fields printed by --json (a subset of RunRecord.row())
RUN_FIELDS = (
    "key",
    "experiment",
    "kind",
    "task",
    "p",
    "reduced_size",
    "weight_decay",
    "seed",
    "steps",
    "converged",
    "stopped",
    "train_acc",
    "test_acc",
    "train_loss",
    "test_loss",
    "param_norm",
    "correct_logit",
    "o_t",
    "o_m",
    "trig_fraction",
    "gen_only",
)


def _list(text: str | None, name: str, kind: str) -> tuple[Any, ...] | None:
    """A comma-separated option, parsed strictly (an empty item is an error)."""
    from grokcheck import validate

    if text is None:
        return None
    if kind == "int":
        return validate.parse_int_list(name, text, 0, validate.SEED_MAX, max_items=MAX_ITEMS)
    if kind == "float":
        return validate.parse_number_list(name, text, 0.0, math.inf, max_items=MAX_ITEMS)
    return validate.parse_name_list(name, text, max_items=MAX_ITEMS)


#: the most values one comma-separated option takes
MAX_ITEMS = 1000

Opt = typer.Option


def experiment(
    name: Name,
    scale: Annotated[
        Scale | None, Opt("--scale", help="quick (p=31, laptop) or paper (p=113) [default: quick].")
    ] = None,
    out: Annotated[
        Path | None,
        Opt("--out", help="Experiment folder; a rerun resumes it [default: runs/experiment-NAME-SCALE]."),
    ] = None,
    p: Annotated[int | None, Opt("--p", help="Modulus (overrides the scale's).")] = None,
    sizes: Annotated[str | None, Opt("--sizes", help="Train sizes D or D', comma-separated.")] = None,
    weight_decays: Annotated[
        str | None, Opt("--weight-decays", help="Weight decays, comma-separated.")
    ] = None,
    seeds: Annotated[str | None, Opt("--seeds", help="Seeds, comma-separated.")] = None,
    max_steps: Annotated[int | None, Opt("--max-steps", help="Cap on steps per run.")] = None,
    lr: Annotated[float | None, Opt("--lr", help="AdamW learning rate (overrides the scale's).")] = None,
    tasks: Annotated[
        str | None, Opt("--tasks", "--task", help="Tasks, comma-separated (see grokcheck train).")
    ] = None,
    executor: Annotated[
        Executor | None, Opt("--executor", help="local (here) or dask [default: local].")
    ] = None,
    scheduler: Annotated[
        str | None, Opt("--scheduler", help="Dask scheduler address [default: a LocalCluster].")
    ] = None,
    device: Annotated[
        str | None, Opt("--device", help="auto, cpu or cuda (auto = CUDA when available) [default: cpu].")
    ] = None,
    max_chunk: Annotated[
        int | None, Opt("--max-chunk", help="Most runs trained as one batch [default: 32].")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run an experiment's grid to convergence, write its folder, print the verdicts."""
    from grokcheck.experiments.grid import GridOverrides
    from grokcheck.experiments.run import ExperimentConfig, plan, run_experiment

    overrides = GridOverrides(
        p=p,
        sizes=_list(sizes, "sizes", "int"),
        weight_decays=_list(weight_decays, "weight_decays", "float"),
        seeds=_list(seeds, "seeds", "int"),
        max_steps=max_steps,
        lr=lr,
        tasks=_list(tasks, "tasks", "name"),
    )
    given = {
        "scale": scale and scale.value,
        "out": out,
        "executor": executor and executor.value,
        "scheduler": scheduler,
        "device": device,
        "max_chunk": max_chunk,
    }
    cfg = ExperimentConfig(
        name=name.value, grid=overrides, **{k: v for k, v in given.items() if v is not None}
    )
    plan(cfg)  # bad input fails here, before any folder is written
    from grokcheck.cli.progress import SweepReporter

    report = SweepReporter("experiment")  # plain lines on stderr, terminal or not
    report.start(cfg.name)
    with stop_on_sigint() as stop:
        result = run_experiment(
            cfg, progress=lambda ev: report(cfg.name, ev), stop=stop, warn=warn_line("experiment")
        )
    interrupted = stop() and not result.complete
    if json_out:
        emit_json(_as_json(cfg, result, interrupted))
    else:
        _render(cfg, result)
    if interrupted:
        sys.stderr.write(
            f"grokcheck: interrupted: {len(result.records)}/{result.n_total} runs finished in {result.out}; "
            "run the same command again to resume\n"
        )
        raise typer.Exit(130)


def _as_json(cfg: Any, result: Any, interrupted: bool) -> dict[str, Any]:
    return {
        "experiment": cfg.name,
        "scale": cfg.scale,
        "out": result.out,
        "complete": result.complete,
        "interrupted": interrupted,
        "n_runs": result.n_total,
        "n_skipped": result.n_skipped,
        "runs": [{k: r.row()[k] for k in RUN_FIELDS} for r in result.records],
        "verdicts": [
            {
                "name": v.name,
                "status": v.status,
                "figure": v.figure,
                "source": v.source,
                "claim": v.claim,
                "details": v.details,
            }
            for v in result.verdicts
        ],
        "figures": list(result.figures),
    }


def _render(cfg: Any, result: Any) -> None:
    from rich.markup import escape

    c = console()
    c.print(
        f"{cfg.name} ({cfg.scale}): {len(result.records)}/{result.n_total} runs finished "
        f"({result.n_skipped} from before), {sum(r.converged for r in result.records)} converged; "
        f"folder {result.out}"
    )
    for v in result.verdicts:
        if v.status != "not_run":
            c.print(
                f"  {_STATUS[v.status]}  " + escape(f"{v.source:<22} {v.name}: {v.figure}"), soft_wrap=True
            )
    for f in result.figures:
        c.print(f"  figure: {f}")


_HELP = {
    Name.ungrok: "Ungrokking on addition: test accuracy vs D' per weight decay (Figures 4, 7, 10; P2, P3).",
    Name.tasks: "Ungrokking on the nine other tasks (Figure 8; P2, P3 per task).",
    Name.semigrok: "Grokking from scratch just above D_crit (Figures 5, 6; P4).",
    Name.efficiency: "C_mem-only and C_gen-only networks vs D (Figure 3; P1, D_crit predicted).",
    Name.hysteresis: "Near D_crit, the same D from a grokked network and from scratch (Theorem D.4's cases).",
}


def _command(name: Name) -> Any:
    """``experiment`` with ``name`` fixed: one subcommand, the option list written once above."""
    sig = inspect.signature(experiment)
    hints = typing.get_type_hints(experiment, include_extras=True)

    def cmd(**kw: Any) -> None:
        experiment(name, **kw)

    params = [q.replace(annotation=hints[q.name]) for q in list(sig.parameters.values())[1:]]
    cmd.__signature__ = sig.replace(parameters=params, return_annotation=None)  # type: ignore[attr-defined]
    cmd.__annotations__ = {q.name: q.annotation for q in params}
    cmd.__doc__ = _HELP[name]
    cmd.__name__ = name.value
    return cmd


for _name in Name:
    app.command(_name.value)(_command(_name))


_STATUS = {"pass": "[bold green]PASS[/]", "fail": "[bold red]FAIL[/]", "not_run": "[yellow]NOT RUN[/]"}
