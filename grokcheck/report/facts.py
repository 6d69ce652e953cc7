"""The tables and figures of a report: configuration, grid, wall time, versions, PNGs.

Pure readers of a folder's files (no training, no plotting): the figures are the PNGs the
experiments and runs already wrote, each with a caption naming the paper's figure it redraws.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from grokcheck.report.content import Facts, FigureRef

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: a PNG larger than this is listed, not embedded (it would make the page unwieldy)
MAX_PNG_BYTES = 20 * 1024 * 1024

#: file name -> (the paper's figure it redraws, what it shows); the order is the reading order
CAPTIONS: dict[str, tuple[str, str]] = {
    "figure3.png": (
        "Figure 3",
        "efficiency against dataset size D: correct logit against parameter norm, coloured by D, of "
        "C_mem-only (random labels) and C_gen-only networks, and isologit curves (norm against D per "
        "logit bucket)",
    ),
    "figure4.png": (
        "Figure 4",
        "ungrokking: final test accuracy against the reduced dataset size D', one colour per weight "
        "decay (dots: seeds, line: their mean, crosses: runs stopped at their step cap)",
    ),
    "figure7.png": (
        "Figure 7",
        "ungrokking curves: test accuracy against steps for every ungrokking run, coloured by D'",
    ),
    "figure10.png": (
        "Figure 10",
        "|o_t / o_m| on the train set (Appendix B) and final test accuracy against D' for the "
        "ungrokking runs",
    ),
    "figure8.png": (
        "Figure 8",
        "ungrokking on other tasks: final test accuracy against D', one panel per task",
    ),
    "figure5.png": (
        "Figure 5",
        "semi-grokking: test accuracy against steps for every run trained from scratch, coloured by "
        "its final test accuracy",
    ),
    "figure6.png": ("Figure 6", "one semi-grokking run: losses, accuracies and parameter norm against steps"),
    "hysteresis.png": (
        "Hysteresis near D_crit",
        "final test accuracy against D from the grokked network and from scratch, one line per seed "
        "(hollow markers: not converged)",
    ),
    "curves.png": (
        "Figure 1a",
        "train and test loss and accuracy of the run against steps, with its milestones",
    ),
    "ungrok.png": (
        "Figure 1b",
        "ungrokking: a grokked network trained on the reduced dataset, loss and accuracy against steps",
    ),
    "circuits.png": (
        "Figure 9",
        "C_trig and C_mem correct logits (Appendix B) and the parameter norm against steps, with the losses",
    ),
}


def fmt_value(v: Any) -> str:
    """A JSON value as a short string: numbers to 6 significant figures, lists joined."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt_value(x) for x in v) if v else "-"
    if isinstance(v, Mapping):
        return "; ".join(f"{k}: {fmt_value(x)}" for k, x in v.items()) or "-"
    return str(v)


def fmt_duration(seconds: float) -> str:
    """``42.3 s``, or ``10 min 44 s (644 s)`` from a minute on."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    text = f"{h} h {m} min" if h else f"{m} min {s} s"
    return f"{text} ({seconds:.0f} s)"


def flatten(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``{"a": {"b": 1}}`` -> ``[("a.b", "1")]``: nested objects as dotted names, values formatted."""
    out: list[tuple[str, str]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out += flatten(v, key + ".")
        else:
            out.append((key, fmt_value(v)))
    return out


def environment() -> dict[str, str]:
    """Versions of grokcheck, Python and the packages results depend on, and the platform.

    Read from the installed packages' metadata, so nothing heavy is imported.
    """
    from importlib import metadata

    from grokcheck import __version__

    out = {"grokcheck": __version__, "python": platform.python_version()}
    for pkg in ("torch", "numpy", "scipy", "sympy", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    out["platform"] = platform.platform()
    return out


def environment_facts(recorded: Mapping[str, Any] | None) -> Facts:
    """Software versions: those recorded in the folder, else this machine's, saying which."""
    if isinstance(recorded, Mapping) and recorded:
        return Facts("Software", tuple(flatten(recorded)), "Recorded when the verification finished")
    return Facts(
        "Software",
        tuple(flatten(environment())),
        "The folder records no versions: these are the versions that built this report",
    )


def png_problem(path: Path) -> str | None:
    """Why ``path`` cannot be embedded as a PNG, or ``None`` if it can."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(len(PNG_SIGNATURE))
    except OSError as e:
        return f"unreadable ({e.strerror or type(e).__name__})"
    if head != PNG_SIGNATURE:
        return "not a PNG file"
    if size > MAX_PNG_BYTES:
        return f"{size / 2**20:.0f} MiB, larger than the {MAX_PNG_BYTES // 2**20} MiB embedded"
    return None


def figures_in(folder: Path, group: str = "") -> tuple[list[FigureRef], list[str]]:
    """The PNGs directly in ``folder`` (known figures first, in reading order), and notes on
    files that cannot be embedded."""
    pngs = sorted(p for p in folder.glob("*.png") if p.is_file())
    order = list(CAPTIONS)
    pngs.sort(key=lambda p: (order.index(p.name) if p.name in CAPTIONS else len(order), p.name))
    figs, notes = [], []
    where = f" ({group})" if group else ""
    for p in pngs:
        problem = png_problem(p)
        if problem is not None:
            notes.append(f"{p.name}{where} is not shown: {problem}.")
            continue
        title, caption = CAPTIONS.get(p.name, (p.name, "an image found in the folder"))
        alt = f"{title}{where}: {caption}"
        figs.append(FigureRef(p, title, caption, alt, group))
    return figs, notes


def _values(xs: Iterable[Any]) -> str:
    return fmt_value(sorted(set(xs), key=lambda x: (x is None, x)))


def grid_facts(records: Sequence[Any], title: str) -> Facts:
    """The grid that ran, from the run records: per (kind, task), every value of each field."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for r in records:
        groups.setdefault((r.spec.kind, r.spec.task), []).append(r)
    rows: list[tuple[str, str]] = []
    for (kind, task), rs in sorted(groups.items()):
        specs = [r.spec for r in rs]
        head = f"{kind} ({task})"
        rows += [
            (f"{head}: runs", f"{len(rs)} ({sum(r.converged for r in rs)} converged)"),
            (f"{head}: p", _values(s.p for s in specs)),
            (f"{head}: D or D'", _values(s.train_size for s in specs)),
            (f"{head}: weight decay", _values(s.weight_decay for s in specs)),
            (f"{head}: seeds", _values(s.seed for s in specs)),
            (f"{head}: max steps", _values(s.max_steps for s in specs)),
            (f"{head}: learning rate", _values(s.lr for s in specs)),
        ]
        if kind == "ungrok":
            rows.append((f"{head}: pretraining max steps", _values(s.pretrain_max_steps for s in specs)))
    return Facts(title, tuple(rows), "" if rows else "No finished runs")


def experiment_facts(
    config: Mapping[str, Any] | None,
    summary: Mapping[str, Any] | None,
    records: Sequence[Any],
    title: str,
    stats: Mapping[str, Any] | None = None,
) -> Facts:
    """One experiment: name, scale, executor, device, runs finished and converged, wall time.

    ``stats`` is what a verification recorded of the experiment
    (:class:`~grokcheck.experiments.run.ExperimentStats`: its wall time, and the runs finished
    before it started); without it the runs' own recorded times are summed, and the row says so.
    """
    cfg = config.get("config", {}) if isinstance(config, Mapping) else {}
    cfg = cfg if isinstance(cfg, Mapping) else {}
    summ = summary if isinstance(summary, Mapping) else {}
    rows: list[tuple[str, str]] = [
        ("experiment", fmt_value(cfg.get("name", summ.get("experiment")))),
        ("scale", fmt_value(cfg.get("scale", summ.get("scale")))),
    ]
    overrides = cfg.get("grid") if isinstance(cfg.get("grid"), Mapping) else {}
    rows += [(f"grid override: {k}", fmt_value(v)) for k, v in overrides.items() if v is not None]
    for k in ("executor", "scheduler", "device", "max_chunk"):
        if cfg.get(k) is not None:
            rows.append((k, fmt_value(cfg[k])))
    if summ:
        rows += [
            ("runs finished", f"{fmt_value(summ.get('n_finished'))} of {fmt_value(summ.get('n_runs'))}"),
            ("runs converged", fmt_value(summ.get("n_converged"))),
            ("complete", fmt_value(summ.get("complete"))),
        ]
    else:
        rows.append(("runs finished", f"{len(records)} (no summary.json: the experiment has not finished)"))
    if isinstance(config, Mapping) and config.get("written"):
        rows.append(("last started", fmt_value(config["written"])))
    wall_s = stats.get("wall_s") if isinstance(stats, Mapping) else None
    if isinstance(wall_s, (int, float)):
        rows.append(("wall time in this verification", fmt_duration(float(wall_s))))
        if stats.get("n_skipped"):
            rows.append(("runs already finished when it started", fmt_value(stats["n_skipped"])))
    elif records:
        total = sum(float(r.wall_s or 0.0) for r in records)
        rows.append(("training time of the runs (sum of their recorded wall_s)", fmt_duration(total)))
    return Facts(title, tuple(rows))
