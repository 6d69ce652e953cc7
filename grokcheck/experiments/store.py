"""The experiment folder: one atomic result file per run, and the tables built from them.

Layout::

    <out>/config.json            the ExperimentConfig that last ran here
    <out>/results/<key>.json     one per finished run: {"spec": ..., "record": ...} (RunSpec.key())
    <out>/results.csv            the results table, one row per run (RunRecord.row())
    <out>/summary.json           the verdicts
    <out>/*.png                  figures

A result file is written whole or not at all (:func:`grokcheck.records.atomic_write_json`), so
whatever kills a run, every file under ``results/`` is a finished run, and a rerun computes only
:meth:`ExperimentStore.pending` specs. Files are trusted only after the checks of
:mod:`grokcheck.experiments.resultfile` (name = key of the spec inside, fields typed and in
range): a file that fails them is never counted, and its run counts as not finished.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from grokcheck.errors import RunError
from grokcheck.experiments.resultfile import BadResult, load_result, parse_record
from grokcheck.experiments.spec import CURVE_FIELDS, RunRecord, RunSpec
from grokcheck.records import atomic_write_json, atomic_write_text, to_jsonable
from grokcheck.transformer.training.metrics import Row

RESULTS = "results"
TABLE = "results.csv"
CONFIG = "config.json"
SUMMARY = "summary.json"


#: a :class:`RunRecord` from its JSON form, every field checked (``None`` stands for a
#: non-finite loss; :class:`~grokcheck.experiments.resultfile.BadResult` on a bad field)
record_from_json = parse_record


class ExperimentStore:
    """Read and write one experiment folder (``root``); the folder is created on first write."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def results_dir(self) -> Path:
        return self.root / RESULTS

    def path(self, spec: RunSpec) -> Path:
        return self.results_dir / f"{spec.key()}.json"

    def write(self, record: RunRecord) -> Path:
        """Write ``record``'s result file atomically; returns its path."""
        path = self.path(record.spec)
        written = {**to_jsonable(record), "curve": [_point(c) for c in record.curve]}
        atomic_write_json(path, {"key": record.spec.key(), "spec": record.spec, "record": written})
        return path

    def read(self, spec: RunSpec) -> RunRecord | None:
        """The finished record of ``spec``, or ``None`` if its file is missing or fails the
        checks of :func:`~grokcheck.experiments.resultfile.load_result` (then it is retrained)."""
        try:
            return load_result(self.path(spec))
        except BadResult:
            return None

    def has(self, spec: RunSpec) -> bool:
        return self.read(spec) is not None

    def pending(self, specs: Iterable[RunSpec]) -> list[RunSpec]:
        """The specs without a finished result, in order (duplicates dropped)."""
        seen: set[str] = set()
        out = []
        for s in specs:
            k = s.key()
            if k in seen:
                continue
            seen.add(k)
            if not self.has(s):
                out.append(s)
        return out

    def records(self, specs: Iterable[RunSpec] | None = None) -> list[RunRecord]:
        """Finished records of ``specs`` in their order (every valid result file, sorted, when ``None``)."""
        if specs is not None:
            return [r for r in (self.read(s) for s in specs) if r is not None]
        return self.scan()[0]

    def scan(self) -> tuple[list[RunRecord], list[str]]:
        """Every valid result file's record (sorted by file name), and one line per file refused.

        A refused file (see :mod:`grokcheck.experiments.resultfile`) is never counted; the
        line names the file and what is wrong with it.
        """
        if not self.results_dir.is_dir():
            return [], []
        good, bad = [], []
        for path in sorted(self.results_dir.glob("*.json")):
            try:
                good.append(load_result(path))
            except BadResult as e:
                bad.append(f"ignored {path}: {e}")
        return good, bad

    def write_table(self, records: Sequence[RunRecord]) -> Path:
        """Write the results table (CSV, one row per run) and return its path."""
        path = self.root / TABLE
        atomic_write_text(path, table_csv(records))
        return path

    def write_config(self, config: Any) -> Path:
        path = self.root / CONFIG
        atomic_write_json(path, config)
        return path

    def read_config(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.root / CONFIG).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise RunError(f"{self.root / CONFIG} is unreadable: {e}") from None

    def write_summary(self, summary: Any) -> Path:
        path = self.root / SUMMARY
        atomic_write_json(path, summary)
        return path


def _point(row: Row) -> dict[str, Any]:
    """A curve point as written: its curve fields, and another field only where it was recorded."""
    return {
        f.name: getattr(row, f.name)
        for f in fields(Row)
        if f.name in CURVE_FIELDS or getattr(row, f.name) != f.default
    }


def table_csv(records: Sequence[RunRecord]) -> str:
    """The results table as CSV text (``pandas.read_csv`` reads it; empty cells are missing)."""
    rows = [r.row() for r in records]
    columns = list(rows[0]) if rows else list(_empty_row())
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Read a results CSV back into row dicts with numbers, booleans and ``None`` restored."""
    with open(path, newline="") as f:
        return [{k: (v if k in _TEXT else _parse(v)) for k, v in row.items()} for row in csv.DictReader(f)]


_TEXT = {"key", "experiment", "kind", "task", "stopped", "loss_dtype", "key_frequencies"}


def _empty_row() -> dict[str, object]:
    return RunRecord(RunSpec("x", "scratch", "add", 2, 1, 0.0, 0, 1), 0, False, "", 0, 0, 0, 0, 0).row()


def _cell(v: Any) -> Any:
    v = to_jsonable(v)
    return "" if v is None else v


def _parse(v: str) -> Any:
    if v == "":
        return None
    if v in ("True", "False"):
        return v == "True"
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v
