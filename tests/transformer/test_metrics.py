"""Evaluation rows, the summary's final metrics as a projection of a row, and stop reasons."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from grokcheck.records import dumps
from grokcheck.transformer.training.metrics import (
    BUDGET_REASONS,
    FINAL_FIELDS,
    INTERRUPTED,
    RULE_REASONS,
    STOP_REASONS,
    FinalMetrics,
    Row,
    Track,
)

ROW = Row(
    step=40, train_loss=1e-3, train_acc=1.0, test_loss=2.0, test_acc=0.5, param_norm=30.0,
    wall_s=1.5, o_t=0.2, collapse_f32=0.25, loss_gap_f32=3e-8,
)  # fmt: skip


def test_final_metrics_are_rows_fields_without_wall_time_or_circuits() -> None:
    row_fields = {f.name: f for f in dataclasses.fields(Row)}
    final = dataclasses.fields(FinalMetrics)
    assert [f.name for f in final] == list(FINAL_FIELDS)
    assert [f.name for f in final] == [n for n in row_fields if n in FINAL_FIELDS]  # Row's order
    for f in final:
        assert (f.type, f.default) == (row_fields[f.name].type, row_fields[f.name].default), f.name
    assert "wall_s" not in FINAL_FIELDS and "o_t" not in FINAL_FIELDS


def test_two_rows_that_differ_in_wall_time_only_report_the_same_final() -> None:
    def final(row: Row) -> FinalMetrics:
        return FinalMetrics(**{n: getattr(row, n) for n in FINAL_FIELDS})

    assert final(ROW) == final(dataclasses.replace(ROW, wall_s=99.0))
    assert final(ROW) != final(dataclasses.replace(ROW, test_acc=0.51))
    assert pickle.loads(pickle.dumps(final(ROW))) == final(ROW)  # results travel to Dask workers
    with pytest.raises(dataclasses.FrozenInstanceError):
        final(ROW).step = 1  # type: ignore[misc]


def test_stop_reasons_are_plain_strings_and_unknown_ones_are_refused() -> None:
    assert set(STOP_REASONS) == {"grokked", "converged", "steps", "max_steps", "diverged", "interrupted"}
    assert set(RULE_REASONS) | set(BUDGET_REASONS) < set(STOP_REASONS)
    t = Track()
    assert t.outcome == INTERRUPTED  # open: it resumes from its checkpoint
    t.stop("max_steps", 10)
    assert t.outcome == "max_steps" and dumps(t.to_dict()["stopped"]) == '"max_steps"'
    with pytest.raises(ValueError, match="unknown stop reason"):
        t.stop("finished", 11)
