import hashlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from synth.cli import main
from synth.folder import read_folder
from synth.render import render_scenes


def digest(folder):
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_cli_writes_the_promised_layout(tmp_path):
    out = tmp_path / "circles"
    assert main(["--counts", "1-3", "--n", "12", "--size", "32", "--seed", "0", "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["1", "2", "3", "metadata.csv", "scenes.jsonl"]
    metadata = pd.read_csv(out / "metadata.csv")
    assert len(metadata) == 12 and {"path", "count", "tsa", "isa", "field_area", "sparsity"} <= set(metadata.columns)
    for path, count in zip(metadata["path"], metadata["count"]):
        assert path.startswith(f"{count}/") and (out / path).is_file()
    lines = (out / "scenes.jsonl").read_text().splitlines()
    assert [len(json.loads(line)["circles"]) for line in lines] == metadata["count"].tolist()
    images, counts, scenes, _ = read_folder(out)
    assert images.shape == (12, 3, 32, 32) and counts.tolist() == metadata["count"].tolist()
    assert torch.equal(render_scenes(scenes), images)  # PNG is lossless and scenes re-render exactly


def test_same_seed_is_byte_identical_and_other_seed_differs(tmp_path):
    args = ["--counts", "2-4", "--n", "9", "--size", "40", "--quiet"]
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert main(args + ["--seed", seed, "--out", str(tmp_path / name)]) == 0
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_non_square_canvas_and_varied_sizes(tmp_path):
    out = tmp_path / "wide"
    assert main(["--counts", "3-5", "--n", "6", "--size", "30", "--aspect", "1.3333", "--radius-range", "1.5-3",
                 "--out", str(out), "--quiet"]) == 0
    images, _, scenes, _ = read_folder(out)
    assert images.shape[-2:] == (30, 40)
    assert np.concatenate([s.radii for s in scenes]).std() > 0


def test_matplotlib_renderer_and_dewind_control(tmp_path):
    out = tmp_path / "mpl"
    assert main(["--counts", "4-6", "--n", "6", "--size", "64", "--radius-range", "2-4", "--control", "dewind",
                 "--renderer", "matplotlib", "--out", str(out), "--quiet"]) == 0
    metadata = pd.read_csv(out / "metadata.csv")
    assert metadata["field_area"].nunique() > 1  # the field varies per scene


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--counts", "5-1"], "--counts"),
        (["--counts", "x"], "--counts"),
        (["--renderer", "cairo"], "--renderer"),
        (["--control", "area"], "--control"),
        (["--n", "0"], "--n"),
        (["--radius", "3", "--radius-range", "1-2"], "not allowed with argument"),
    ],
)
def test_bad_flags_name_the_flag(tmp_path, capsys, argv, fragment):
    with pytest.raises(SystemExit) as exit_info:
        main(argv + ["--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    assert fragment in capsys.readouterr().err


def test_infeasible_spec_is_one_line_error_and_writes_nothing(tmp_path):
    out = tmp_path / "never"
    result = subprocess.run(
        [sys.executable, "-m", "synth", "--counts", "500-500", "--radius", "20", "--size", "64", "--out", str(out)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot pack 500-500 circles") and "Traceback" not in result.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_existing_folder_is_not_clobbered(tmp_path, capsys):
    out = tmp_path / "keep"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert main(["--n", "3", "--size", "32", "--out", str(out), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err and (out / "precious.txt").read_text() == "keep me"
    assert main(["--n", "3", "--size", "32", "--out", str(out), "--quiet", "--overwrite"]) == 0
    assert not (out / "precious.txt").exists()


def test_cli_writes_shapes_distractors_and_overlap(tmp_path):
    out = tmp_path / "shapes"
    argv = ["--counts", "2-4", "--n", "9", "--size", "48", "--shape", "square", "--distractors", "1-2",
            "--distractor-kind", "shape", "--colour", "random", "--overlap", "--seed", "0", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    images, counts, scenes, metadata = read_folder(out)
    assert counts.tolist() == [s.count for s in scenes] == [2, 3, 4] * 3
    assert (metadata["n_items"] - metadata["count"]).between(1, 2).all()
    assert all(set(s.shapes[s.targets].tolist()) == {1} and set(s.shapes[~s.targets].tolist()) == {0} for s in scenes)
    assert torch.equal(render_scenes(scenes), images)  # the scene file keeps shapes and targets
