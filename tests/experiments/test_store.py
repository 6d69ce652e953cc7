"""The result store: round trips, pending, resume, and the CSV table read back independently."""

from __future__ import annotations

import csv
import math

from grokcheck.experiments import grid
from grokcheck.experiments.store import ExperimentStore, read_table, record_from_json, table_csv
from grokcheck.records import to_jsonable
from tests.experiments.fakes import fake_record

SPECS = grid.experiment_specs("ungrok", "quick", grid.GridOverrides(p=23, sizes=(60, 120), seeds=(0, 1)))


def test_record_round_trip_through_json():
    rec = fake_record(SPECS[0])
    assert record_from_json(to_jsonable(rec)) == rec


def test_nan_survives_as_nan():
    import dataclasses

    rec = dataclasses.replace(fake_record(SPECS[0]), test_loss=float("nan"))
    back = record_from_json(to_jsonable(rec))
    assert math.isnan(back.test_loss)


def test_a_result_file_keeps_the_curve_fields_of_each_point(tmp_path):
    """A curve point is an evaluation row written with the curve's fields, as result files have
    always held them, and a field recorded besides them where there is one."""
    import dataclasses
    import json

    from grokcheck.experiments.resultfile import load_result

    rec = fake_record(SPECS[0])
    first = dataclasses.replace(rec.curve[0], o_t_test=2.5)
    rec = dataclasses.replace(rec, curve=(first, *rec.curve[1:]))
    path = ExperimentStore(tmp_path).write(rec)
    points = json.loads(path.read_text())["record"]["curve"]
    old = {"step", "train_acc", "test_acc", "train_loss", "test_loss", "param_norm", "o_t", "o_m"}
    assert set(points[0]) == old | {"o_t_test"} and all(set(p) == old for p in points[1:])
    assert load_result(path) == rec


def test_pending_and_records(tmp_path):
    store = ExperimentStore(tmp_path)
    assert store.pending(SPECS) == list(SPECS)
    for s in SPECS[::2]:
        store.write(fake_record(s))
    assert store.pending(SPECS) == list(SPECS[1::2])
    assert [r.spec for r in store.records(SPECS)] == list(SPECS[::2])
    assert store.pending(SPECS + SPECS) == list(SPECS[1::2])  # duplicates once


def test_corrupt_or_foreign_file_is_pending(tmp_path):
    store = ExperimentStore(tmp_path)
    store.write(fake_record(SPECS[0]))
    store.path(SPECS[0]).write_text("{not json")
    store.write(fake_record(SPECS[1]))
    store.path(SPECS[2]).write_text(store.path(SPECS[1]).read_text())  # another run's content
    assert store.pending(SPECS[:3]) == [SPECS[0], SPECS[2]]


def test_csv_has_one_row_per_run_and_reads_back(tmp_path):
    recs = [fake_record(s) for s in SPECS]
    store = ExperimentStore(tmp_path)
    path = store.write_table(recs)
    with open(path, newline="") as f:
        raw = list(csv.DictReader(f))
    assert len(raw) == len(recs)
    assert [float(r["test_acc"]) for r in raw] == [r.test_acc for r in recs]
    assert raw[0]["key"] == SPECS[0].key()
    back = read_table(path)
    assert back[0]["converged"] is recs[0].converged and back[0]["train_size"] == SPECS[0].train_size
    assert back[0]["o_t"] == recs[0].o_t


def test_empty_table_has_header():
    assert table_csv([]).startswith("key,experiment,kind")
