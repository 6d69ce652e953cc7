"""``grokcheck verify``: run every verification that exists and give one verdict.

Each pillar exposes ``checks(quick: bool) -> list[Check]`` in a ``checks`` module listed in
:data:`PROVIDERS`. A check is one row: what was claimed, the figure measured, and its status:
``"pass"``, ``"fail"`` or ``"not_run"`` (the runs the claim needs are missing).

The experiment rows (P1-P4, D_crit: :mod:`grokcheck.experiments.checks`) come from training
runs, so they are added only on request: ``experiments="run"`` runs the quick scale of the
experiments into ``experiments_dir`` (resuming what is there), ``experiments="from"`` reads
finished experiment folders under ``experiments_dir``.

Rows are :class:`grokcheck.verdicts.Check` (a claim of the paper or a self-check of the
toolkit; :mod:`grokcheck.verdicts` says how they combine).

How ``not_run`` counts: a row that was not run is never a pass. The overall ``status`` is
``"broken"`` if a self-check fails, else ``"fail"`` if a claim fails, else ``"incomplete"`` if
any row was not run, else ``"pass"``; ``holds`` is true only for ``"pass"``. ``grokcheck verify``
exits with :data:`EXIT_STATUS` of it, so a script can tell the four apart.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grokcheck.verdicts import EXIT_STATUS, KINDS, STATUSES, Check, overall

__all__ = ["EXIT_STATUS", "KINDS", "PROVIDERS", "STATUSES", "Check", "VerifyResult", "overall", "run_verify"]

#: modules with a ``checks(quick)`` function, in the order their rows are shown
PROVIDERS: tuple[str, ...] = (
    "grokcheck.theory.checks",
    "grokcheck.sim.checks",
    "grokcheck.transformer.checks",
)


@dataclass(frozen=True)
class VerifyResult:
    checks: tuple[Check, ...]
    holds: bool
    quick: bool
    status: str = ""  # "pass" | "fail" (a claim) | "broken" (a self-check) | "incomplete"
    #: per experiment run by ``experiments="run"``: its wall time and runs finished/converged
    #: (:class:`grokcheck.experiments.run.ExperimentStats`); empty otherwise
    experiments: tuple[Any, ...] = ()


def run_verify(
    *,
    quick: bool = True,
    providers: tuple[str, ...] | None = None,
    on_check: Callable[[Check], None] | None = None,
    experiments: str | None = None,
    experiments_dir: str | Path | None = None,
    progress: Callable[[str, Any], None] | None = None,
    runner: Any = None,
    warn: Callable[[str], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> VerifyResult:
    """Run every provider's checks (and the experiment rows if asked); ``holds`` iff all pass.

    Args:
        experiments: ``None`` (no experiment rows), ``"run"`` (run the quick-scale experiments in
            ``experiments_dir``) or ``"from"`` (rows from finished folders under it).
        progress: called as ``progress(experiment_name, ProgressEvent)`` while experiments run
            (after every chunk and, with the real runner, after every training step).
        runner: the training runner for ``"run"`` (default: the real one).
        warn: gets one line per experiment result file left out (copied, edited, damaged).
        stop: polled while experiments train; when it returns true they stop at the next step,
            keeping what they finished (a rerun resumes), and their rows say what is missing.

    ``experiments_dir`` is checked before any check runs, so a bad folder fails at once.
    """
    rows: list[Check] = []
    ran: list[Any] = []
    if experiments is not None:
        from grokcheck.experiments import checks as exp

        if experiments == "run":
            exp.plan_quick(experiments_dir)
        elif experiments == "from":
            exp.check_from_dir(experiments_dir)
        else:
            raise ValueError(f"experiments must be None, 'run' or 'from', got {experiments!r}")

    def add(check: Check) -> None:
        rows.append(check)
        if on_check is not None:
            on_check(check)

    for name in PROVIDERS if providers is None else providers:
        module = importlib.import_module(name)
        for check in module.checks(quick=quick):
            add(check)
    if experiments is not None:
        if experiments == "run":
            found = exp.run_quick(
                experiments_dir,
                runner=runner,
                progress=progress,
                on_experiment=ran.append,
                stop=stop,
                warn=warn,
            )
        else:
            found = exp.rows_from_records(exp.pooled_records(experiments_dir, warn))  # checked above
        for check in found:
            add(check)
    status = overall(rows)
    return VerifyResult(
        checks=tuple(rows), holds=status == "pass", quick=quick, status=status, experiments=tuple(ran)
    )
