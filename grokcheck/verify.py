"""``grokcheck verify``: run every verification that exists and give one verdict.

Each pillar exposes ``checks(quick: bool) -> list[Check]`` in a ``checks`` module listed in
:data:`PROVIDERS`. A check is one row: what was claimed, the figure measured, and its status:
``"pass"``, ``"fail"`` or ``"not_run"`` (the runs the claim needs are missing).

The experiments are one more provider (:data:`EXPERIMENTS`: P1-P4, D_crit, ...), but their rows
come from training runs, so they are added only on request: ``experiments="run"`` runs the
quick scale of the experiments into ``experiments_dir`` (resuming what is there),
``experiments="from"`` reads finished experiment folders under ``experiments_dir``.

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

__all__ = [
    "EXIT_STATUS", "EXPERIMENTS", "KINDS", "PROVIDERS", "STATUSES", "Check", "VerifyResult", "overall",
    "run_verify",
]  # fmt: skip

#: modules with a ``checks(quick)`` function, in the order their rows are shown
PROVIDERS: tuple[str, ...] = (
    "grokcheck.theory.checks",
    "grokcheck.sim.checks",
    "grokcheck.transformer.checks",
)
#: the experiments' provider, whose ``checks`` also takes where the experiments are and how to
#: get them (:func:`grokcheck.experiments.checks.checks`); its rows come last, on request
EXPERIMENTS = "grokcheck.experiments.checks"


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
    sources: list[tuple[str, dict[str, Any]]] = [
        (n, {}) for n in (PROVIDERS if providers is None else providers)
    ]
    if experiments is not None:
        from grokcheck.experiments import checks as exp

        if experiments not in exp.MODES:
            raise ValueError(f"experiments must be None, 'run' or 'from', got {experiments!r}")
        exp.preflight(experiments, experiments_dir)
        options = {
            "mode": experiments,
            "root": experiments_dir,
            "runner": runner,
            "progress": progress,
            "on_experiment": ran.append,
            "stop": stop,
            "warn": warn,
        }
        sources.append((EXPERIMENTS, options))

    for name, options in sources:
        for check in importlib.import_module(name).checks(quick=quick, **options):
            rows.append(check)
            if on_check is not None:
                on_check(check)
    status = overall(rows)
    return VerifyResult(
        checks=tuple(rows), holds=status == "pass", quick=quick, status=status, experiments=tuple(ran)
    )
