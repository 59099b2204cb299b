"""python -m study.train: a tiny run, --weights PATH, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error

import pytest
import torch

from study.engine.models import create_model
from study.train import main


TINY = ["--arch", "timm:test_resnet", "--size", "32", "--radius", "4", "--counts", "1-3",
        "--n-train", "30", "--n-test", "10", "--epochs", "1", "--batch-size", "8", "--device", "cpu",
        "--no-progress"]


def test_tiny_counting_run_prints_the_table_and_writes_the_cell(tmp_path, capsys):
    assert main([*TINY, "--aug", "sensible", "--out", str(tmp_path / "cell")]) == 0
    out = capsys.readouterr().out
    assert "epoch     train_loss  valid_loss  error_rate  time" in out and "wrote" in out
    metrics = json.loads((tmp_path / "cell" / "metrics.json").read_text())
    assert metrics["label_noise_rate"] == 0.0  # sensible never changes the count
    assert json.loads((tmp_path / "cell" / "spec.json").read_text())["aug"] == "sensible"


def test_weights_file_saved_here_loads_through_the_flag(tmp_path):
    torch.manual_seed(7)
    body = create_model("timm:test_resnet", 3).body.state_dict()
    torch.save(body, tmp_path / "body.pt")
    assert main([*TINY, "--aug", "none", "--weights", str(tmp_path / "body.pt"), "--out", str(tmp_path / "cell")]) == 0
    checkpoint = torch.load(tmp_path / "cell" / "checkpoint.pt", weights_only=True)
    metrics = json.loads((tmp_path / "cell" / "metrics.json").read_text())
    assert metrics["weights_used"] == str(tmp_path / "body.pt")
    # A weights file means a pretrained body, frozen by freeze=auto: its convolutions are unchanged.
    conv_keys = [key for key, value in body.items() if value.dim() == 4]
    assert conv_keys and all(torch.equal(checkpoint["model"][f"body.{k}"], body[k]) for k in conv_keys)


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--aug", "bogus"], ["aug", "bogus", "fastai", "sensible"]),
        (["--arch", "vgg99"], ["arch", "vgg99", "resnet34", "timm:<name>"]),
        (["--lr", "-1"], ["lr", "positive"]),
        (["--lr", "fast"], ["--lr", "'fast'", "'find'"]),
        (["--resize", "stretch"], ["--resize", "squish"]),
        (["--n-train", "many"], ["--n-train", "'many'", "integer"]),
        (["--batch-size", "1"], ["batch_size", "BatchNorm", "2 or more"]),
        (["--counts", "0-5"], ["counts", "'0-5'", "at least 1"]),
    ],
)
def test_bad_flags_name_the_flag_and_the_valid_values(flags, named, capsys):
    # argparse refuses a value of the wrong type or outside the choices (SystemExit);
    # TrainSpec and the sweep's cell checks refuse the rest (status 2): both one line.
    try:
        status = main(flags)
    except SystemExit as exit_info:
        status = exit_info.code
    assert status == 2
    error = one_error_line(capsys)
    assert all(word in error for word in named), error


def test_every_spec_field_is_a_flag_with_its_help():
    from study.config.spec import spec_fields
    from study.train import build_parser

    text = build_parser().format_help()
    for info in spec_fields():
        assert "--" + info.name.replace("_", "-") in text
    args = build_parser().parse_args(["--lr", "find", "--compile", "--eval-resize", "crop", "--data-seed", "3"])
    assert (args.lr, args.compile, args.eval_resize, args.data_seed) == ("find", True, "crop", 3)
    assert build_parser().parse_args(["--lr-find"]).lr_find
    assert build_parser().parse_args(["--lr", "0.01"]).lr == 0.01


def one_error_line(capsys) -> str:
    error = capsys.readouterr().err.strip()
    assert "Traceback" not in error and len(error.splitlines()) == 1 and error.startswith("error: ")
    return error


def test_config_and_data_errors_are_one_line_with_status_2(tmp_path, capsys):
    assert main(["--counts", "5-1", "--out", str(tmp_path / "a")]) == 2
    assert "counts" in one_error_line(capsys)
    assert main(["--task", "folder", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "b")]) == 2
    assert str(tmp_path / "missing") in one_error_line(capsys)
    assert main([*TINY, "--size", "8", "--out", str(tmp_path / "c")]) == 2
    assert "size" in one_error_line(capsys)


def test_imagenet_offline_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    # The later --arch wins over TINY's: resnet18 has a known torchvision weights file.
    assert main([*TINY, "--arch", "resnet18", "--weights", "imagenet", "--out", str(tmp_path / "cell")]) == 2
    error = one_error_line(capsys)
    assert "resnet18-f37072fd.pth" in error and str(tmp_path / "hub" / "checkpoints") in error
    # Weights that cannot be had offline: the cell cannot run here (skipped), as in a sweep.
    assert json.loads((tmp_path / "cell" / "error.json").read_text())["status"] == "skipped"


def test_module_entry_point_exits_2_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "study.train", "--task", "folder", "--data", str(tmp_path / "none"),
         "--out", str(tmp_path / "cell")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: data: folder") and "Traceback" not in result.stderr
