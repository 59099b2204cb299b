"""Every bad input to ``python -m synth`` gets exit status 2, one line naming the bad value, and no trace on disk."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from synth.cli import main
from tests.catalogue import assert_cli_error, assert_one_line_error, run_module


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` (hidden ones included) with its bytes (None for folders)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """Exit status and stderr of ``main(argv)``; any exception other than SystemExit fails the test."""
    try:
        status = main(argv)
    except SystemExit as exit_info:
        status = exit_info.code
    return status, capsys.readouterr().err


def out_is_a_file(tmp_path):
    (tmp_path / "taken").write_text("a file")
    return str(tmp_path / "taken"), "is an existing file"


def out_under_a_file(tmp_path):
    (tmp_path / "taken").write_text("a file")
    return str(tmp_path / "taken" / "images"), "is a file"


def out_is_a_full_folder(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "precious.txt").write_text("keep me")
    return str(tmp_path / "full"), "--overwrite"


def out_in_a_read_only_folder(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the /sys case covers a refused write")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked").chmod(0o555)
    return str(tmp_path / "locked" / "images"), "Permission denied"


def out_in_proc(tmp_path):
    return "/proc/x", "No such file or directory"


def out_in_sys(tmp_path):
    return "/sys/x", "not permitted"


@pytest.mark.parametrize(
    "make_out",
    [out_is_a_file, out_under_a_file, out_is_a_full_folder, out_in_a_read_only_folder, out_in_proc, out_in_sys],
)
def test_bad_out_paths(tmp_path, capsys, make_out):
    out, problem = make_out(tmp_path)
    before = snapshot(tmp_path)
    status, err = run_cli(["--n", "3", "--size", "32", "--out", out, "--quiet"], capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert out in err and problem in err
    assert snapshot(tmp_path) == before  # nothing lost, nothing half-written


@pytest.mark.parametrize(
    "argv, bad",
    [
        (["--counts", "0-0"], "'0-0'"),
        (["--counts", "0-3"], "'0-3'"),
        (["--counts", "5-2"], "'5-2'"),
        (["--counts", "abc"], "'abc'"),
        (["--radius", "0"], "--radius"),
        (["--radius", "-2"], "--radius"),
        (["--radius-range", "0-2"], "--radius-range"),
        (["--radius-range", "3-1"], "'3-1'"),
        (["--size", "2"], "--size"),
        (["--size", "abc"], "'abc'"),
        (["--aspect", "0"], "--aspect"),
        (["--aspect", "inf"], "--aspect"),
        (["--radius", "nan"], "--radius"),
        (["--min-gap", "-1"], "--min-gap"),
        (["--counts", "500-500", "--size", "32"], "cannot pack 500-500 circles"),
        (["--counts", "20-20", "--size", "32", "--radius", "8"], "at most 2 circles of radius 8"),
        (["--shape", "hexagon"], "--shape: invalid choice: 'hexagon'"),
        (["--colour", "pink"], "--colour: invalid choice: 'pink'"),
        (["--distractors", "3-1"], "'3-1'"),
        (["--distractors", "x"], "--distractors"),
        (["--distractor-kind", "size"], "--distractor-kind: invalid choice: 'size'"),
        (["--shape", "mixed", "--distractors", "1-2", "--distractor-kind", "shape"], "shape 'mixed'"),
        (["--colour", "random", "--distractors", "1-2"], "colour 'random'"),
        (["--overlap", "--control", "dewind"], "overlap with control 'dewind'"),
        (["--counts", "20-20", "--shape", "triangle", "--radius", "6"], "at most 1 triangles of radius 6"),
    ],
)
def test_bad_values(tmp_path, capsys, argv, bad):
    out = tmp_path / "never"
    status, err = run_cli(["--n", "3", "--size", "32", *argv, "--out", str(out), "--quiet"], capsys)
    assert status == 2
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err
    assert bad in err
    assert not list(tmp_path.iterdir())


# Absurd sizes and non-finite numbers: each used to reach an allocation (MemoryError, a 30 GB
# batch), an OverflowError or a driver traceback. Each names the flag, the value and the range.
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
NO_MPS = pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has an Apple GPU")
RANGE_CASES = [
    (["--n", "99999999999"], ["--n", "99999999999", "1 to 1000000"]),
    (["--n", "1000001"], ["--n", "1000001", "1 to 1000000"]),
    (["--n", "-1"], ["--n", "-1", "1 to 1000000"]),
    (["--size", "100000000"], ["--size", "100000000", "4 to 4096"]),
    (["--size", "100000"], ["--size", "100000", "4 to 4096"]),
    (["--size", "-5"], ["--size", "-5", "4 to 4096"]),
    (["--aspect", "1e300"], ["--aspect", "1e+300", "4 to 4096 px"]),
    (["--aspect", "200"], ["--aspect", "200", "4 to 4096 px at --size 32"]),
    (["--aspect", "nan"], ["--aspect", "nan"]),
    (["--aspect", "-1"], ["--aspect", "-1"]),
    (["--min-gap", "1e300"], ["--min-gap", "1e+300", "0 to 32 px"]),
    (["--min-gap", "inf"], ["--min-gap", "inf", "0 to 32 px"]),
    (["--margin", "1e300"], ["--margin", "1e+300", "0 to 32 px"]),
    (["--margin", "-1"], ["--margin", "-1", "0 to 32 px"]),
    (["--radius", "1e300"], ["--radius", "1e+300", "<= 32 px"]),
    (["--radius", "33"], ["--radius", "33", "<= 32 px"]),
    (["--radius-range", "1-1e300"], ["--radius-range", "1-1e+300", "<= 32 px"]),
    (["--aspect", "2", "--radius", "65"], ["--radius", "65", "<= 64 px"]),  # the longer side counts
    (["--counts", "1-100000"], ["--counts", "1-100000", "1 to 1000 items"]),
    (["--counts", "99999999999"], ["--counts", "99999999999-99999999999", "1 to 1000 items"]),
    (["--distractors", "0-5000"], ["--distractors", "0-5000", "0 to 1000 items"]),
    (["--seed", "-1"], ["--seed", "-1", "0 to 2**63-1"]),
    (["--seed", "9223372036854775808"], ["--seed", "9223372036854775808", "0 to 2**63-1"]),
    pytest.param(["--device", "cuda"], ["--device cuda", "no CUDA GPU", "--device cpu"], marks=NO_GPU),
    pytest.param(["--device", "cuda:0"], ["--device cuda:0", "no CUDA GPU"], marks=NO_GPU),
    pytest.param(["--device", "mps"], ["--device mps", "not usable"], marks=NO_MPS),
    (["--device", "cuda:x"], ["'cuda:x'", "valid: cpu, cuda, cuda:N, mps"]),
    (["--device", "nope"], ["'nope'", "valid: cpu, cuda, cuda:N, mps"]),
    (["--device", ""], ["''", "valid: cpu"]),
    (["--device", "meta"], ["--device meta", "cpu, cuda or mps"]),
]


@pytest.mark.parametrize("argv, mentions", RANGE_CASES)
def test_numbers_and_devices_out_of_range(tmp_path, capsys, argv, mentions):
    out = tmp_path / "never"
    status, err = run_cli(["--n", "3", "--size", "32", *argv, "--out", str(out), "--quiet"], capsys)
    assert_one_line_error(status, "", err, *mentions)
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_device_cuda_without_a_gpu_is_one_line_from_a_real_process(tmp_path):
    result = run_module("synth", "--n", "2", "--size", "16", "--device", "cuda", "--out", str(tmp_path / "x"),
                        timeout=120)
    assert_cli_error(result, "--device cuda", "no CUDA GPU")
    assert not list(tmp_path.iterdir())


def test_large_images_are_rendered_in_small_batches(tmp_path, monkeypatch):
    # 512 images of 2048 px would be a 6 GB batch; the batch shrinks with the image instead.
    import synth.folder

    sizes = []
    real = synth.folder._render

    def spy(batch, renderer, device):
        sizes.append(len(batch))
        return real(batch, renderer, device)

    monkeypatch.setattr(synth.folder, "_render", spy)
    monkeypatch.setattr(synth.folder, "_BATCH_BYTES", 3 * 64 * 64 * 2)  # room for two 64 px images
    assert main(["--n", "5", "--size", "64", "--counts", "1-2", "--out", str(tmp_path / "big"), "--quiet"]) == 0
    assert sizes == [2, 2, 1]


def test_infeasible_auto_radius_names_the_limits(tmp_path, capsys):
    # The auto radius stops at the 1 px floor; the error says what fits there and what radius 500 would need.
    status, err = run_cli(["--counts", "500-500", "--size", "32", "--out", str(tmp_path / "x"), "--quiet"], capsys)
    assert status == 2
    assert "radius 1," in err and "at most 67 circles of radius 1 fit" in err and "for 500 circles" in err


def test_os_error_is_one_line_from_a_real_process(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "synth", "--n", "2", "--size", "16", "--out", "/proc/x"],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith("error: --out /proc/x:") and "Traceback" not in result.stderr


def test_bad_out_is_refused_before_sampling(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    status, err = run_cli(["--n", "50", "--size", "32", "--out", str(tmp_path / "taken")], capsys)  # not --quiet
    assert status == 2 and err.startswith("error: --out") and err.count("\n") == 1  # no progress lines first
