"""``grokcheck sim``'s library call: simulate Figure 2's panels, cross-check, write the run folder.

A run folder holds ``config.json`` (every panel's :class:`SimConfig` and the analysis
settings), ``metrics_<panel>.csv`` (every step), ``summary.json`` (the result) and one PNG
per panel, plus ``fig2.png`` with the three panels side by side for ``--fig 2``.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grokcheck.errors import InputError
from grokcheck.records import atomic_write_json, atomic_write_text, to_jsonable
from grokcheck.sim.crosscheck import AGREE_TOL, Q_WEIGHT_DECAY, CrossCheck, cross_check
from grokcheck.sim.dynamics import (
    CONVERGE_TOL,
    MAX_STEPS,
    Converged,
    Grokking,
    Trace,
    converge,
    grokking_summary,
    simulate,
)
from grokcheck.sim.model import PRESETS, SETTINGS_RANGES, SimConfig, check_range, config_fields
from grokcheck.verdicts import Check

#: what ``--fig`` accepts: one panel, or "2" for all three
FIGURES = ("2", "2a", "2b", "2c")

#: ``progress(panel, phase, step, total)``
PanelProgress = Callable[[str, str, int, int], None]


@dataclass(frozen=True)
class Settings:
    """How a run is analysed (not part of the model).

    Attributes:
        threshold: test/train loss (nats) whose first crossing the grokking summary reports.
        onset: ``w_gen`` level that counts as C_gen "growing significantly" (Figure 2a).
        tol: relative change of the weights per 1000 steps below which a run has converged.
        max_steps: cap on the steps of the run to convergence.
        agree_tol: agreement needed with Theorem D.4 (max weight error / larger weight).

    Every value must lie in its range in :data:`SETTINGS_RANGES`.
    """

    threshold: float = 1.0
    onset: float = 0.1
    tol: float = CONVERGE_TOL
    max_steps: int = MAX_STEPS
    agree_tol: float = AGREE_TOL

    def __post_init__(self) -> None:
        for name in SETTINGS_RANGES:
            value = check_range(name, getattr(self, name), SETTINGS_RANGES, integer=name == "max_steps")
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class Final:
    """The last step of the displayed run. ``train_loss``/``test_loss`` are Appendix C's
    (cross-entropy plus ``L_wd``); ``train_xent``/``test_xent`` the cross-entropies alone."""

    step: int
    train_loss: float
    test_loss: float
    train_xent: float
    test_xent: float
    wd_loss: float
    w_gen: float
    w_mem: float
    param_norm: float  # sqrt(P'_g^2 + P'_m^2)


@dataclass(frozen=True)
class PanelResult:
    """One panel of Figure 2: the displayed run, the run to convergence and the cross-check."""

    figure: str
    steps: int
    params: SimConfig
    final: Final
    converged: Converged
    theorem_ratio: float | None  # Theorem D.4's w_gen/w_mem; None when infinite (case 1)
    holds: bool | None  # the cross-check; None where the theorem does not apply (alpha = 0)
    grokking: Grokking  # loss crossings of Appendix C's losses
    grokking_xent: Grokking  # the same of the cross-entropies alone
    theorem: CrossCheck


@dataclass(frozen=True)
class SimReport:
    """``captions`` (``--fig 2`` only): Figure 2's caption claims, decided under Appendix C's
    losses; ``captions_xent`` the same under the cross-entropy alone. They do not enter
    ``holds``, which is the Theorem D.4 cross-check."""

    figure: str
    panels: tuple[PanelResult, ...]
    holds: bool | None  # every applicable panel's cross-check holds
    out: str | None
    files: tuple[str, ...]
    captions: tuple[Check, ...] = ()
    captions_xent: tuple[Check, ...] = ()


def panel_configs(
    figure: str, overrides: Mapping[str, Any] | None = None, settings: Settings | None = None
) -> dict[str, SimConfig]:
    """Table 1's config for each panel of ``figure``, with ``overrides`` applied to every one.

    Validates everything a run needs (so a CLI can check input before creating a run folder).
    """
    if figure not in FIGURES:
        raise InputError("fig", f"unknown figure {figure!r}; choose one of {', '.join(FIGURES)}")
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(config_fields()))
    if unknown:
        raise InputError("overrides", f"unknown parameter(s) {unknown}; known: {list(config_fields())}")
    panels = ("2a", "2b", "2c") if figure == "2" else (figure,)
    configs = {p: dataclasses.replace(PRESETS[p], **overrides) for p in panels}
    for cfg in configs.values():
        _check_theorem_inputs(cfg)
        if settings is not None:
            _check_cap(cfg, settings)
    return configs


def _check_theorem_inputs(cfg: SimConfig) -> None:
    """Theorem D.4's joint input limit (its weight bound must stay within float64's reach),
    checked here so that a run never stops at the cross-check after all its work."""
    if cfg.alpha == 0:
        return  # the theorem does not apply, nothing is computed
    from types import SimpleNamespace

    from grokcheck.theory import ranges
    from grokcheck.theory.d4 import D4Config, log10_weight_bound

    d4 = dict(kappa=cfg.kappa, q=Q_WEIGHT_DECAY, alpha=2.0 * cfg.wd_coef, n_labels=cfg.n_labels)
    try:
        D4Config(norms=(cfg.P_g, cfg.P_m), **d4)
    except InputError:
        lo, hi = ranges.LOG10_WEIGHT_BOUND
        bounds = {
            name: log10_weight_bound(P, SimpleNamespace(**d4))
            for name, P in (("P_g", cfg.P_g), ("P_m", cfg.P_m))
        }
        name, worst = max(bounds.items(), key=lambda kv: abs(kv[1] - (lo + hi) / 2))
        raise InputError(
            "kappa",
            f"with --alpha {cfg.alpha:g}, --p-g {cfg.P_g:g}, --p-m {cfg.P_m:g} and --n-labels "
            f"{cfg.n_labels}, Theorem D.4's weight bound (ln n / (alpha P^2))^(kappa/2) for {name} "
            f"is 1e{worst:.0f}, outside [1e{lo:g}, 1e{hi:g}] where the cross-check can be computed "
            "in float64; move --kappa, --alpha or the norms towards 1",
        ) from None


def _check_cap(cfg: SimConfig, settings: Settings) -> None:
    if settings.max_steps < cfg.steps:
        lo, hi = SETTINGS_RANGES["max_steps"]
        raise InputError(
            "max_steps", f"must be an integer in [--steps ({cfg.steps}), {hi:g}], got {settings.max_steps}"
        )


def run_panel(
    panel: str, cfg: SimConfig, settings: Settings = Settings(), *, progress: PanelProgress | None = None
) -> tuple[PanelResult, Trace]:
    """Simulate ``cfg.steps`` steps, then continue to convergence and cross-check Theorem D.4.

    ``progress(panel, phase, step, total)`` is called during long work (see
    :func:`grokcheck.sim.dynamics.simulate` and :func:`~grokcheck.sim.dynamics.converge`).
    """
    _check_cap(cfg, settings)
    report = None if progress is None else (lambda phase, step, total: progress(panel, phase, step, total))
    trace = simulate(cfg, progress=report)
    end = converge(
        cfg,
        start=tuple(float(x) for x in trace.subweights[-1]),
        start_step=cfg.steps,
        tol=settings.tol,
        max_steps=settings.max_steps,
        progress=report,
    )
    check = cross_check(cfg, end, tolerance=settings.agree_tol)
    final = Final(
        step=cfg.steps,
        train_loss=float(trace.train_loss[-1]),
        test_loss=float(trace.test_loss[-1]),
        train_xent=float(trace.train_xent[-1]),
        test_xent=float(trace.test_xent[-1]),
        wd_loss=float(trace.wd_loss[-1]),
        w_gen=float(trace.w_gen[-1]),
        w_mem=float(trace.w_mem[-1]),
        param_norm=float(trace.param_norm[-1]),
    )
    result = PanelResult(
        figure=panel,
        steps=cfg.steps,
        params=cfg,
        final=final,
        converged=end,
        theorem_ratio=check.theorem_ratio,
        holds=check.holds,
        grokking=grokking_summary(trace, threshold=settings.threshold, onset=settings.onset),
        grokking_xent=grokking_summary(
            trace, threshold=settings.threshold, onset=settings.onset, loss="xent"
        ),
        theorem=check,
    )
    return result, trace


def metrics_csv(trace: Trace) -> str:
    """Every step of a trace as CSV (header row, then one row per step)."""
    buf = io.StringIO()
    table = trace.table()
    fmt = ["%d"] + ["%.17g"] * (table.shape[1] - 1)
    np.savetxt(buf, table, fmt=fmt, delimiter=",", header=",".join(Trace.COLUMNS), comments="")
    return buf.getvalue()


def run_figure(
    figure: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    settings: Settings = Settings(),
    out: Path | None = None,
    figures: bool = True,
    progress: PanelProgress | None = None,
) -> SimReport:
    """Run every panel of ``figure`` ("2" or "2a"/"2b"/"2c"); write the run folder ``out`` if given.

    ``progress(panel, phase, step, total)`` reports long work (the CLI shows it on stderr):
    phases "simulate" and "converge" (``total`` is the step count or cap), and "write" before
    a panel's CSV is written (``total`` rows).
    """
    configs = panel_configs(figure, overrides, settings)
    results, traces = [], []
    for panel, cfg in configs.items():
        r, t = run_panel(panel, cfg, settings, progress=progress)
        results.append(r)
        traces.append(t)
    applicable = [r.holds for r in results if r.holds is not None]
    holds = all(applicable) if applicable else None
    files: list[str] = []
    if out is not None:
        out = Path(out)
        atomic_write_json(out / "config.json", {"figure": figure, "settings": settings, "panels": configs})
        for r, t in zip(results, traces, strict=True):
            if progress is not None:
                progress(r.figure, "write", 0, len(t.step))  # ~10 s for 10^6 steps
            atomic_write_text(out / f"metrics_{r.figure}.csv", metrics_csv(t))
            files.append(f"metrics_{r.figure}.csv")
        if figures:
            from grokcheck.sim.figures import plot_panel, plot_panels

            for r, t in zip(results, traces, strict=True):
                plot_panel(t, r.figure, out / f"fig{r.figure}.png")
                files.append(f"fig{r.figure}.png")
            if len(results) > 1:
                plot_panels(traces, [r.figure for r in results], out / f"fig{figure}.png")
                files.append(f"fig{figure}.png")
        files = ["config.json", *files, "summary.json"]
    captions: dict[str, tuple[Check, ...]] = {}
    if figure == "2":
        from grokcheck.sim.checks import caption_rows

        by_panel = {r.figure: t for r, t in zip(results, traces, strict=True)}
        for loss in ("appendix_c", "xent"):
            captions[loss] = tuple(caption_rows(by_panel, loss, configs))
    report = SimReport(
        figure=figure,
        panels=tuple(results),
        holds=holds,
        out=str(out) if out is not None else None,
        files=tuple(files),
        captions=captions.get("appendix_c", ()),
        captions_xent=captions.get("xent", ()),
    )
    if out is not None:
        atomic_write_json(out / "summary.json", report_json(report))
    return report


def run_sim(
    figure: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    settings: Settings = Settings(),
    out: Path | None = None,
    figures: bool = True,
    progress: PanelProgress | None = None,
) -> SimReport:
    """``grokcheck sim``: :func:`run_figure` into a new run folder (``out``, or a new one under
    ``runs/``), after every value and the folder are checked.

    A simulation has no resume, so ``out`` must be new or empty; a run that fails before
    writing anything leaves no empty folder behind.

    Raises:
        InputError: a value out of range. FolderError: ``out`` cannot be used.
    """
    from grokcheck.errors import FolderError, GrokcheckError
    from grokcheck.runs import preflight_writable, prepare_run_dir

    panel_configs(figure, overrides, settings)  # every value checked before a folder exists
    if out is not None:
        preflight_writable(out, "--out")  # a name too long, a file in the way or above it
        if out.is_dir() and any(out.iterdir()):
            raise FolderError(f"--out {out} already holds files; choose a new or empty folder for this run")
    folder = prepare_run_dir("sim", out)
    try:
        return run_figure(
            figure, overrides, settings=settings, out=folder, figures=figures, progress=progress
        )
    except GrokcheckError:
        if not any(folder.iterdir()):
            folder.rmdir()
        raise


def report_json(report: SimReport) -> dict[str, Any]:
    """The JSON object ``--json`` prints: a single panel's fields at the top level, or, for
    ``--fig 2``, the three panels under ``panels``."""
    if len(report.panels) == 1:
        return {**to_jsonable(report.panels[0]), "out": report.out, "files": list(report.files)}
    return to_jsonable(report)
