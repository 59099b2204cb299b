"""kit.records: every written file reads back as written; NaN reads as None; a wrong key is named with its file."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from kit.records import (AnalysisSummary, BenchEntry, BenchFile, CellMetrics, Checkpoint, RecordError, ResultsRow,
                         bench_path, json_bytes, parse_json, plain, results_csv_rows)


def test_plain_cleans_nan_infinities_numpy_and_containers():
    value = {"a": float("nan"), "b": [np.float32(0.5), np.int64(3), float("inf")], "c": (1, 2), 4: {np.bool_(True)},
             "d": np.array([[1, 2]]), "p": Path("x/y")}
    assert plain(value) == {"a": None, "b": [0.5, 3, None], "c": [1, 2], "4": [True], "d": [[1, 2]], "p": "x/y"}
    assert type(plain(np.float64(0.25))) is float and type(plain(np.int64(2))) is int
    with pytest.raises(TypeError, match="cannot write object"):
        plain(object())
    assert plain(object(), default=lambda value: "text") == "text"


def test_json_reads_back_as_written_and_an_old_nan_token_reads_as_none():
    data = json_bytes({"b": 1, "a": float("nan")})
    assert data == b'{\n  "a": null,\n  "b": 1\n}\n'  # sorted keys, indent 2, trailing newline, no NaN token
    assert parse_json(data, "x.json") == {"a": None, "b": 1}
    assert parse_json('{"a": NaN, "b": [Infinity]}', "old.json") == {"a": None, "b": [None]}
    with pytest.raises(RecordError, match=r"^cut\.json: not valid JSON at line 1, column 7$"):
        parse_json('{"a": ', "cut.json")


def _metrics() -> CellMetrics:
    return CellMetrics(valid_accuracy=0.75, test_accuracy=float("nan"), classes=["1", "2"],
                       confusion_matrix=[[3, 1], [0, 4]], count_mae=0.25, off_by_k={"0": 0.75, "1": 0.25},
                       splits={"test": {"accuracy": 0.5, "mae": float("nan"), "n": 4}}, seconds=1.5,
                       phase_seconds={"fit": 1.0})


def test_cell_metrics_round_trip_with_nan_as_none(tmp_path: Path):
    path = tmp_path / "metrics.json"
    path.write_bytes(_metrics().to_bytes())
    back = CellMetrics.read(path)
    assert back.test_accuracy is None and back.splits["test"]["mae"] is None  # NaN, top level or nested
    assert back == CellMetrics.from_json(_metrics().to_json())
    assert back.to_bytes() == path.read_bytes()
    # A cell that does not count leaves the counting keys out of the file, as before.
    photo = CellMetrics(valid_accuracy=0.9).to_json()
    assert "count_mae" not in photo and "label_noise_rate" not in photo and photo["test_accuracy"] is None


def test_cell_metrics_name_the_file_for_an_unknown_or_missing_key(tmp_path: Path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"status": "done", "pid": 4}))
    with pytest.raises(RecordError, match=rf"^{path}: unknown key\(s\) 'pid' in metrics.json; valid: status, "):
        CellMetrics.read(path)
    path.write_text(json.dumps({"valid_accuracy": 0.5}))
    with pytest.raises(RecordError, match=rf"^{path}: metrics.json lacks the key\(s\) 'status'$"):
        CellMetrics.read(path)
    path.write_text("[1, 2]")
    with pytest.raises(RecordError, match="expected a JSON object"):
        CellMetrics.read(path)


def test_an_earlier_kits_metrics_read_with_the_newer_keys_as_defaults():
    old = CellMetrics.from_json({"status": "done", "valid_accuracy": 0.5, "test_accuracy": 0.4, "classes": ["1"]},
                                "old/metrics.json")
    assert old.splits == {} and old.phase_seconds == {} and old.n_test_held_out is None


def test_checkpoint_round_trip_leaves_unset_fields_out_and_names_the_file():
    model = {"weight": [1.0, 2.0]}
    checkpoint = Checkpoint(model=model, arch="resnet18", head="classifier", num_classes=2, size=32,
                            classes=["1", "2"], class_counts=[1, 2])
    saved = checkpoint.to_dict()
    assert saved["model"] is model and "reg_loss" not in saved and "spec" not in saved
    assert Checkpoint.from_dict(saved, "c/checkpoint.pt") == checkpoint
    with pytest.raises(RecordError, match=r"^c/checkpoint.pt: checkpoint.pt lacks the key\(s\) 'head'$"):
        Checkpoint.from_dict({k: v for k, v in saved.items() if k != "head"}, "c/checkpoint.pt")
    with pytest.raises(RecordError, match=r"^c/checkpoint.pt: unknown key\(s\) 'optimizer'"):
        Checkpoint.from_dict({**saved, "optimizer": {}}, "c/checkpoint.pt")


def _csv_text(rows: list[ResultsRow]) -> str:
    flat = [row.to_csv() for row in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(flat[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return buffer.getvalue()


def test_results_row_round_trip_through_csv():
    settings = {"counts": "1-5", "n_train": 2500, "stages": []}
    done = ResultsRow.from_cell("a", settings, "done", "", _metrics())
    failed = ResultsRow.from_cell("b", settings, "failed", "RuntimeError: NaN", {"seconds": 2.0, "device": "cpu"})
    text = _csv_text([done, failed])
    assert text.splitlines()[0] == ("cell_id,counts,n_train,stages,status,error,valid_accuracy,test_accuracy,"
                                    "test_dewind_accuracy,error_rate,count_mae,test_held_out_accuracy,"
                                    "test_held_out_mae,label_noise_rate,lr_used,train_images,valid_images,"
                                    "test_images,seconds,device,precision,weights_used")
    back = results_csv_rows(text)
    assert _csv_text(back) == text  # written again, the same bytes
    assert back[0].get("valid_accuracy") == 0.75 and back[0].get("test_accuracy") is None  # NaN: blank: None
    assert back[1].get("device") == "cpu" and back[1].error == "RuntimeError: NaN"
    assert back[0].settings == {"counts": "1-5", "n_train": "2500", "stages": "[]"}  # settings stay text


def test_results_rows_of_an_earlier_kit_read_and_an_unknown_column_is_named():
    old = "cell_id,counts,status,error,valid_accuracy,test_accuracy\na,1-5,done,,0.5,0.25\n"
    [row] = results_csv_rows(old, "runs/old/results.csv")
    assert row.get("test_accuracy") == 0.25 and row.get("count_mae") is None
    with pytest.raises(RecordError, match=r"^runs/x/results.csv: unknown column\(s\) 'speed'; valid after error: "):
        results_csv_rows("cell_id,status,error,speed\na,done,,3\n", "runs/x/results.csv")
    with pytest.raises(RecordError, match=r"^runs/x/results.csv: no 'status' column"):
        results_csv_rows("cell_id,counts\na,1-5\n", "runs/x/results.csv")


def test_bench_file_round_trip_merges_by_setting(tmp_path: Path):
    fp32 = BenchEntry(arch="resnet18", size=64, precision="fp32", images_per_s=200.0, batch_size=64)
    bf16 = BenchEntry(arch="resnet18", size=64, precision="bf16", images_per_s=150.0, batch_size=64)
    path = bench_path("cpu", tmp_path)
    assert path == tmp_path / ".cache" / "bench" / "train-cpu.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(BenchFile("cpu", [fp32, bf16]).to_bytes())
    back = BenchFile.read(path)
    assert back == BenchFile("cpu", [fp32, bf16])
    faster = BenchEntry(arch="resnet18", size=64, precision="fp32", images_per_s=250.0, batch_size=64)
    assert back.merged([faster]).entries == [bf16, faster]


def test_a_bench_file_in_another_format_is_refused_naming_the_file_and_entry(tmp_path: Path):
    path = tmp_path / "train-cpu.json"
    path.write_text(json.dumps({"device": "cpu", "entries": [{"arch": "r", "size": 64, "precision": "fp32",
                                                              "images_per_second": 400.0}]}))
    with pytest.raises(RecordError, match=rf"^{path}, entry 0: unknown key\(s\) 'images_per_second' in bench entry"):
        BenchFile.read(path)
    path.write_text(json.dumps({"device": "cpu", "entries": [{"arch": "r", "size": 64, "precision": "fp32",
                                                              "images_per_s": 0}]}))
    with pytest.raises(RecordError, match=r"entry 0: images_per_s must be a number > 0, got 0"):
        BenchFile.read(path)


def test_analysis_summary_round_trip_with_nan_and_numpy(tmp_path: Path):
    summary = AnalysisSummary(answer={"question": "Can networks count?"}, seconds=np.float64(2.5),
                              configurations=[{"label": "1-5", "accuracy": {"mean": float("nan")}}],
                              missing=[{"what": "cell a", "why": "pending"}], cells_analysed=np.int64(1))
    path = tmp_path / "summary.json"
    path.write_bytes(summary.to_bytes())
    back = AnalysisSummary.read(path)
    assert back.configurations[0]["accuracy"]["mean"] is None and back.seconds == 2.5 and back.cells_analysed == 1
    assert back.to_json() == summary.to_json() and back.figures == [] and back.limitations == []
    path.write_text(json.dumps({"answer": {}, "verdict": "yes"}))
    with pytest.raises(RecordError, match=rf"^{path}: unknown key\(s\) 'verdict' in summary.json; valid: answer, "):
        AnalysisSummary.read(path)


def test_a_nan_metric_is_a_blank_results_cell():
    row = ResultsRow.from_cell("a", {}, "done", "", {"valid_accuracy": math.nan})
    assert row.to_csv()["valid_accuracy"] == ""


def test_values_read_back_as_numbers_or_none():
    from kit.records import row_accuracy, to_float

    assert [to_float(v) for v in ("0.5", 2, "", None, "n/a", float("nan"), True)] == [0.5, 2.0, None, None, None,
                                                                                       None, None]
    assert row_accuracy({"test_accuracy": "0.75", "valid_accuracy": "0.5"}) == 0.75
    assert row_accuracy({"test_accuracy": "", "valid_accuracy": "0.5"}) == 0.5  # a photo folder: no test split
    assert row_accuracy({"status": "failed"}) is None
