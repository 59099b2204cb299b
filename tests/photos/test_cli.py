"""python -m photos: one-line errors with exit 2, summaries on stdout, progress lines on stderr."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from photo_server import ImageServer, image_bytes, server  # noqa: F401 - server is a fixture

import photos.errors
from photos.cli import main


def _error(capsys, argv: list[str]) -> str:
    try:
        status = main(argv)
    except SystemExit as exit_info:  # argparse's usage errors
        status = exit_info.code
    assert status == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err and captured.out == ""
    return lines[0]


def test_url_file_errors(tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "out")
    assert "missing.txt: not found" in _error(capsys, ["fetch", str(tmp_path / "missing.txt"), "--out", out])
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("http://127.0.0.1:1/chat-\xe9.jpg\n".encode("latin-1"))
    message = _error(capsys, ["fetch", str(latin1), "--out", out])
    assert "latin1.txt: not UTF-8" in message and "0xe9" in message
    assert "is a folder" in _error(capsys, ["fetch", str(tmp_path), "--out", out])


def test_out_errors(tmp_path: Path, capsys, monkeypatch) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:1/a.jpg\n")
    assert "urls.txt: is a file" in _error(capsys, ["fetch", str(urls), "--out", str(urls)])

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(photos.errors.tempfile, "TemporaryFile", refuse)  # a read-only folder, even for root
    message = _error(capsys, ["fetch", str(urls), "--out", str(tmp_path / "ro")])
    assert "ro: cannot write there (Permission denied)" in message
    assert "cannot write there" in _error(capsys, ["verify", str(tmp_path)])


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert "cannot write there" in _error(capsys, ["verify", str(folder)])
    finally:
        folder.chmod(0o755)


def test_verify_errors(tmp_path: Path, capsys) -> None:
    assert "nope: not found" in _error(capsys, ["verify", str(tmp_path / "nope")])
    assert "--min-size: 0: expected" in _error(capsys, ["verify", str(tmp_path), "--min-size", "0"])


def test_module_entry_point(server: ImageServer, tmp_path: Path) -> None:
    for i in range(3):
        server.add(f"/{i}.png", image_bytes(64, 64, "PNG", seed=i), "image/png")
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(server.url(f"/{i}.png") + "\n" for i in range(3)) + "mailto:someone\n")
    out = tmp_path / "data" / "cat"
    done = subprocess.run(
        [sys.executable, "-m", "photos", "fetch", str(urls), "--out", str(out), "--workers", "2"],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"downloaded +3\n", done.stdout) and "invalid 1" in done.stdout
    assert "100%" in done.stderr and "\r" not in done.stderr  # progress as whole lines in a log
    assert len(list(out.glob("*.png"))) == 3
