"""Read a grokcheck folder into a :class:`~grokcheck.report.content.Report`.

Three kinds of folder:

- a verification (``grokcheck verify --full --out DIR``, or any folder ``verify --from DIR``
  reads): experiment folders under it, and ``verify.json`` when the verification recorded its
  rows there (:func:`grokcheck.report.write.write_verify_record`). The rows are the recorded
  ones; without ``verify.json`` the P1-P4 verdicts are computed from the pooled results exactly
  as ``grokcheck verify --from DIR`` computes them, and the report says so.
- an experiment folder (``grokcheck experiment NAME --out DIR``): ``config.json``,
  ``summary.json`` (its verdicts), ``results/``, figures.
- a training run (``grokcheck train --out DIR``): ``config.json``, ``metrics.jsonl``,
  ``summary.json``, figures. It has no verdicts.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from functools import cache
from pathlib import Path
from typing import Any

from grokcheck.errors import InputError
from grokcheck.report.claims import claim_for, claims
from grokcheck.report.content import Facts, FigureRef, Report, VerdictRow
from grokcheck.report.facts import (
    environment_facts,
    experiment_facts,
    figures_in,
    flatten,
    fmt_duration,
    fmt_value,
    grid_facts,
)
from grokcheck.verdicts import overall

VERIFY_RECORD = "verify.json"
TRAIN_FILES = ("config.json", "summary.json", "metrics.jsonl")
PREDICTIONS = "Predictions (experiments)"
#: the group of a verify row that is not a prediction, by its kind (grokcheck.verify.Check.kind)
CHECKS = {"claim": "Checks of the paper's claims", "self": "Self-checks of the toolkit's arithmetic"}


def folder_kind(root: Path) -> str:
    """``"verify"``, ``"experiment"`` or ``"train"``; a one-line :class:`InputError` otherwise."""
    from grokcheck.experiments.store import RESULTS

    if not root.exists():
        raise InputError("dir", f"no such folder: {root}", flag="DIR")
    if not root.is_dir():
        raise InputError("dir", f"{root} is a file, not a folder", flag="DIR")
    if (root / RESULTS).is_dir():
        return "experiment"
    if (root / VERIFY_RECORD).is_file() or _experiment_folders(root):
        return "verify"
    if all((root / f).is_file() for f in TRAIN_FILES):
        return "train"
    raise InputError(
        "dir",
        f"{root} is not a folder grokcheck wrote: expected a verification folder (experiment "
        "folders or verify.json), an experiment folder (results/) or a training run "
        "(config.json, summary.json, metrics.jsonl)",
        flag="DIR",
    )


def build_report(root: str | Path) -> Report:
    """Everything the report of folder ``root`` shows (reads files only; trains nothing)."""
    from grokcheck import __version__

    root = Path(root)
    kind = folder_kind(root)
    read = {"verify": _verify, "experiment": _experiment, "train": _train}[kind]
    title, status, rows, figs, facts, notes = read(root)
    return Report(
        kind=kind,
        root=root,
        title=title,
        status=status,
        verdicts=tuple(rows),
        figures=tuple(figs),
        facts=tuple(facts),
        notes=tuple(notes),
        generated=_dt.datetime.now().isoformat(timespec="seconds"),
        version=__version__,
    )


# --- rows ---------------------------------------------------------------------------------


def verdict_row(d: Mapping[str, Any], group: str = PREDICTIONS) -> VerdictRow:
    """A row from a verdict's JSON (``summary.json``'s ``verdicts``, or a prediction's
    :class:`~grokcheck.verdicts.Check` as a dict)."""
    name = str(d.get("name", ""))
    paper = claim_for(name)
    details = d.get("details")
    return VerdictRow(
        name=name,
        status=str(d.get("status", "")),
        source=str(d.get("source", "")),
        rule=str(d.get("claim", "")),
        measured=str(d.get("figure", "")),
        quotes=paper.quotes if paper else (),
        thresholds=paper.thresholds if paper else "",
        details=dict(details) if isinstance(details, Mapping) else {},
        group=group,
    )


@cache
def _prediction_name() -> re.Pattern[str]:
    # a verify row of a prediction is named "<verdict name>: <rule>"
    # (grokcheck.experiments.checks.titled)
    names = "|".join(re.escape(n) for n in sorted(claims(), key=len, reverse=True))
    return re.compile(rf"^(?P<name>(?:{names})(?: \[[^\]]+\])?): ")


def check_row(d: Mapping[str, Any]) -> VerdictRow:
    """A row from ``verify --json``'s ``checks``: a prediction's verdict, or another check."""
    name = str(d.get("name", ""))
    status = d.get("status") or ("pass" if d.get("holds") else "fail")
    claim = d.get("claim", d.get("detail", ""))  # a verify.json may name it "detail"
    m = _prediction_name().match(name)
    if m is None:
        kind = str(d.get("kind") or "claim")
        rule = str(claim or name)
        source, figure = str(d.get("source", "")), str(d.get("figure", ""))
        return VerdictRow(name, str(status), source, rule, figure, group=CHECKS.get(kind, kind), kind=kind)
    row = {"name": m["name"], "status": status, "claim": claim, "details": d.get("details")}
    return verdict_row({**row, "source": d.get("source", ""), "figure": d.get("figure", "")})


# --- the three kinds of folder -------------------------------------------------------------


def _experiment_folders(root: Path) -> list[Path]:
    from grokcheck.experiments.checks import folders

    return [f for f in folders(root) if f != root]


def _pooled_verdicts(records: Sequence[Any]) -> list[VerdictRow]:
    from grokcheck.experiments.predictions import all_verdicts

    # the tasks as grokcheck.experiments.checks.rows_from_records picks them for verify --from
    tasks = ["add"] + sorted({r.spec.task for r in records if r.spec.kind == "ungrok"} - {"add"})
    return [verdict_row(asdict(v)) for v in all_verdicts(records, tasks=tasks)]


#: what each kind of folder gives: title, overall status, rows, figures, facts, notes
_Parts = tuple[str, str, list[VerdictRow], list[FigureRef], list[Facts], list[str]]


def _verify(root: Path) -> _Parts:
    from grokcheck.experiments.checks import pooled_records
    from grokcheck.experiments.store import ExperimentStore

    notes: list[str] = []
    record = _read_json(root / VERIFY_RECORD, notes)
    record = record if isinstance(record, Mapping) and isinstance(record.get("checks"), list) else None
    # what the verification recorded of each experiment it ran (ExperimentStats), in its order
    stats = (
        {e.get("name"): e for e in record.get("experiments", []) if isinstance(e, Mapping)} if record else {}
    )
    ran = list(stats)
    folders = sorted(
        _experiment_folders(root), key=lambda f: (ran.index(f.name) if f.name in ran else len(ran), f)
    )
    per_folder = [ExperimentStore(f).records() for f in folders]
    # pooled as verify --from pools them (a run found in two folders counts once)
    pooled = _pooled_verdicts(pooled_records(root)) if folders else []
    if record is not None:
        rows = [check_row(c) for c in record["checks"] if isinstance(c, Mapping)]
        rows = _with_details(rows, pooled, notes)
        status = str(record.get("status") or overall(rows))
    else:
        rows, status = pooled, overall(pooled)
        notes.append(
            "No verify.json in this folder: the verdicts were computed from the results of its "
            "experiment folders, as 'grokcheck verify --from' computes them; the theorem, toy-model "
            "and transformer checks are not part of this report."
        )
    facts: list[Facts] = []
    figs: list[FigureRef] = []
    for folder, recs in zip(folders, per_folder, strict=True):
        rel = folder.relative_to(root).as_posix()
        config, summary = (
            _read_json(folder / "config.json", notes),
            _read_json(folder / "summary.json", notes),
        )
        name = _experiment_name(config, summary, folder)
        title = f"Experiment {name} ({rel}/)"
        facts.append(experiment_facts(config, summary, recs, title, stats.get(name)))
        facts.append(grid_facts(recs, f"Grid of {name}: what ran"))
        f, n = figures_in(folder, rel)
        figs += f
        notes += n
    if record is not None:
        facts.insert(0, _verify_facts(record, stats))
    facts.append(environment_facts(record.get("environment") if record is not None else None))
    return f"Verification in {root}", status, rows, figs, facts, notes


def _with_details(rows: list[VerdictRow], pooled: list[VerdictRow], notes: list[str]) -> list[VerdictRow]:
    """Recorded prediction rows, with the numbers behind them where the results still agree."""
    by_name = {v.name: v for v in pooled}
    out = []
    for row in rows:
        now = by_name.get(row.name) if row.group == PREDICTIONS else None
        if now is not None and (now.status, now.measured) == (row.status, row.measured):
            row = replace(row, details=now.details)
        elif now is not None:
            notes.append(
                f"{row.name}: verify.json records {row.label}, but the results now in the folder give "
                f"{now.label} ({now.measured}); the report shows the recorded verdict."
            )
        out.append(row)
    return out


def _verify_facts(record: Mapping[str, Any], stats: Mapping[Any, Mapping[str, Any]]) -> Facts:
    rows = [
        ("checks", "quick" if record.get("quick") else "full (longer checks and the experiments)"),
        ("overall", fmt_value(record.get("status"))),
        ("rows", str(len(record.get("checks", [])))),
    ]
    if record.get("written"):
        rows.append(("finished", fmt_value(record["written"])))
    known = [float(w) for e in stats.values() if isinstance(w := e.get("wall_s"), (int, float))]
    if known:
        rows.append(("wall time of the experiments", fmt_duration(sum(known))))
    return Facts("Verification", tuple(rows))


def _experiment(root: Path) -> _Parts:
    from grokcheck.experiments.store import ExperimentStore

    notes: list[str] = []
    config, summary = _read_json(root / "config.json", notes), _read_json(root / "summary.json", notes)
    records = ExperimentStore(root).records()
    verdicts = summary.get("verdicts") if isinstance(summary, Mapping) else None
    rows = [verdict_row(v) for v in verdicts or [] if isinstance(v, Mapping)]
    if not isinstance(verdicts, list):
        notes.append(
            "This experiment has no summary.json with verdicts (it has not finished): rerun the same "
            "'grokcheck experiment' command with the same --out to finish it."
        )
    name = _experiment_name(config, summary, root)
    facts = [
        experiment_facts(config, summary, records, f"Experiment {name}"),
        grid_facts(records, "Grid: what ran"),
        environment_facts(None),
    ]
    figs, n = figures_in(root)
    return f"Experiment {name} in {root}", overall(rows) if rows else "", rows, figs, facts, notes + n


def _train(root: Path) -> _Parts:
    notes: list[str] = []
    config, summary = _read_json(root / "config.json", notes), _read_json(root / "summary.json", notes)
    n_evals = 0
    try:
        with open(root / "metrics.jsonl") as f:
            n_evals = sum(1 for line in f if line.strip())
    except OSError as e:
        notes.append(f"metrics.jsonl is unreadable: {e.strerror or type(e).__name__}.")
    what = "Ungrokking run" if isinstance(config, Mapping) and "reduced_size" in config else "Training run"
    facts = [
        Facts("Result", tuple(flatten(summary)) if isinstance(summary, Mapping) else (), "From summary.json"),
        Facts(
            "Configuration", tuple(flatten(config)) if isinstance(config, Mapping) else (), "From config.json"
        ),
        Facts("Evaluations", (("rows in metrics.jsonl", str(n_evals)),)),
        environment_facts(None),
    ]
    notes.append("A training run has no verdicts; 'grokcheck verify' and 'grokcheck experiment' give them.")
    figs, n = figures_in(root)
    return f"{what} in {root}", "", [], figs, facts, notes + n


# --- helpers -------------------------------------------------------------------------------


def _read_json(path: Path, notes: list[str]) -> Any:
    """The JSON in ``path``; ``None`` (and a note) when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        notes.append(f"{path.name} is unreadable ({' '.join(str(e).split())}); it is left out.")
        return None


def _experiment_name(config: Any, summary: Any, folder: Path) -> str:
    cfg = config.get("config") if isinstance(config, Mapping) else None
    if isinstance(cfg, Mapping) and isinstance(cfg.get("name"), str):
        return cfg["name"]
    if isinstance(summary, Mapping) and isinstance(summary.get("experiment"), str):
        return summary["experiment"]
    return folder.name
