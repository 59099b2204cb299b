"""The bad-input catalogue of ``python -m photos fetch`` and ``python -m photos verify``.

Each case feeds the command line one hostile input and checks the kit's
contract (``tests/catalogue.py``): a user error is exit status 2 with one
line naming the bad value, the flag or file, and the valid choices; a
hostile server costs at most the time limit of a try, and the URL is
recorded as a timeout (retried by the next run); nothing of the user's is
lost, moved or half-written.

Four classes: bounded waits against hostile servers (subprocesses, so a hang
is caught by the subprocess timeout, never by a timed assertion), numbers
checked where they are parsed, concurrent runs and unreadable files in
verify, and output folders that are not the tool's.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from photo_server import (  # noqa: F401 - server is a fixture
    ImageServer,
    add_redirect_chain,
    endless_header_line,
    endless_status_line,
    headers_then_silence,
    image_bytes,
    server,
    silence,
    trickle_body,
    trickle_headers,
)

import photos.verify
from photos.cli import main
from photos.errors import LOCK_NAME, folder_lock
from tests.catalogue import assert_cli_error, assert_one_line_error, run_main, run_module, tree_snapshot

# A hostile route keeps writing for a minute (photo_server.HOSTILE_LIMIT_S); a fetch bounded by its
# --max-time of 1 s ends long before this bound, which only turns a hang into a failure.
HANG_BOUND_S = 40
JPG = image_bytes(96, 80, "JPEG", seed=11)


def run_photos(argv: list[str], capsys) -> tuple[int, str, str]:
    """``photos.cli.main(argv)`` in-process (``tests.catalogue.run_main``)."""
    return run_main(main, argv, capsys)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def url_file(folder: Path, *urls: str) -> Path:
    path = folder / "urls.txt"
    path.write_text("".join(url + "\n" for url in urls))
    return path


# ---------------------------------------------------------------------------------------------
# 1. Bounded waits: whatever the server does, one URL costs at most --max-time per try.
# ---------------------------------------------------------------------------------------------

def _hostile(server: ImageServer, kind: str) -> str:
    """Register the hostile route ``kind``; return its path."""
    body = JPG * 40  # ~100 KB: trickled 2 bytes at a time it would take hours
    if kind == "redirect-chain":
        return add_redirect_chain(server, "/chain/")
    if kind == "redirect-to-trickle":
        server.routes["/hop"] = lambda n: (302, {"Location": "/trickle"}, b"")
        server.raw["/trickle"] = trickle_body(body)
        return "/hop"
    server.raw["/" + kind] = {
        "trickle-body": lambda: trickle_body(body),
        "trickle-headers": trickle_headers,
        "endless-header-line": endless_header_line,
        "endless-status-line": endless_status_line,
        "headers-then-silence": headers_then_silence,
        "silence": silence,
    }[kind]()
    return "/" + kind


# With --timeout 5 --max-time 1 only the total limit can end a trickle (each write comes well within
# the socket timeout), so those cases check the limit itself. The cases with --timeout 0.25 alone are
# the reported command line (default limit 6 x 0.25 = 1.5 s); on a loaded machine a socket timeout
# may end them first, which is as good, so either message is accepted there.
LIMIT = ["--timeout", "5", "--max-time", "1"]
DEFAULT_LIMIT = ["--timeout", "0.25"]
EITHER = ("not done within 1.5s", "stalled for 0.25s", "no answer within 0.25s")
BOUNDED_CASES = [
    # (hostile route, extra flags, manifest status, any of these words in the manifest's error, attempts)
    ("trickle-body", LIMIT, "timeout", ("not done within 1s (--max-time)",), "1"),
    ("trickle-body", DEFAULT_LIMIT, "timeout", EITHER, "1"),
    ("trickle-headers", LIMIT, "timeout", ("--max-time",), "1"),
    ("trickle-headers", DEFAULT_LIMIT, "timeout", EITHER, "1"),
    ("endless-header-line", LIMIT, "timeout", ("--max-time",), "1"),
    ("endless-header-line", DEFAULT_LIMIT, "timeout", EITHER, "1"),
    ("endless-status-line", LIMIT, "timeout", ("--max-time",), "1"),
    ("headers-then-silence", ["--timeout", "0.3", "--max-time", "5"], "timeout", ("stalled for 0.3s",), "1"),
    ("silence", ["--timeout", "0.3", "--max-time", "5"], "timeout", ("0.3s",), "1"),
    ("redirect-chain", ["--timeout", "2", "--max-time", "10"], "http-error", ("more than 10 redirects",), "1"),
    ("redirect-to-trickle", LIMIT, "timeout", ("--max-time",), "1"),
    ("redirect-to-trickle", DEFAULT_LIMIT, "timeout", EITHER, "1"),
    ("trickle-body", [*LIMIT, "--retries", "2", "--backoff", "0"], "timeout", ("--max-time",), "3"),
]


@pytest.mark.parametrize("kind, flags, status, words, attempts", BOUNDED_CASES,
                         ids=[f"{case[0]}-{i}" for i, case in enumerate(BOUNDED_CASES)])
def test_hostile_server_costs_at_most_the_time_limit(server: ImageServer, tmp_path: Path, kind, flags, status,
                                                     words, attempts) -> None:
    url = server.url(_hostile(server, kind))
    urls = url_file(tmp_path, url)
    out = tmp_path / "cat"
    argv = ["fetch", str(urls), "--out", str(out), "--retries", "0", "--no-verify", "--quiet", *flags]
    result = run_module("photos", *argv, timeout=HANG_BOUND_S)  # a hang raises TimeoutExpired here
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    (row,) = read_csv(out / "_manifest.csv")
    assert (row["url"], row["status"], row["attempts"]) == (url, status, attempts)
    assert any(word in row["error"] for word in words) and "\n" not in row["error"], row["error"]
    assert sorted(p.name for p in out.iterdir()) == ["_manifest.csv"]  # no partial file, lock released


def test_a_good_url_beside_a_hostile_one_is_saved(server: ImageServer, tmp_path: Path) -> None:
    server.add("/good.jpg", JPG)
    server.raw["/trickle"] = trickle_body(JPG * 40)
    urls = url_file(tmp_path, server.url("/trickle"), server.url("/good.jpg"))
    out = tmp_path / "cat"
    result = run_module("photos", "fetch", str(urls), "--out", str(out), "--timeout", "5", "--max-time", "2",
                        "--retries", "0", "--workers", "1", "--quiet", "--min-size", "8", timeout=HANG_BOUND_S)
    assert result.returncode == 0, result.stderr
    statuses = {row["url"].rsplit("/", 1)[-1]: row["status"] for row in read_csv(out / "_manifest.csv")}
    assert statuses == {"trickle": "timeout", "good.jpg": "ok"}  # one worker: the good URL waited its turn
    assert [p.read_bytes() for p in out.glob("*.jpg")] == [JPG]


# ---------------------------------------------------------------------------------------------
# 2. Numbers are checked where they are parsed: one line naming the flag, the value and the range.
# ---------------------------------------------------------------------------------------------

NUMBER_CASES = [
    # (command, flag, value, words the line must hold)
    ("fetch", "--timeout", "nan", ["--timeout", "nan", "> 0 and <= 3600"]),
    ("fetch", "--timeout", "inf", ["--timeout", "inf", "<= 3600"]),
    ("fetch", "--timeout", "-1", ["--timeout", "-1", "> 0"]),
    ("fetch", "--timeout", "0", ["--timeout", "0", "> 0"]),
    ("fetch", "--timeout", "1e300", ["--timeout", "1e+300", "<= 3600"]),
    ("fetch", "--timeout", "soon", ["--timeout", "'soon'", "not a number"]),
    ("fetch", "--max-time", "nan", ["--max-time", "nan", "<= 86400"]),
    ("fetch", "--max-time", "-5", ["--max-time", "-5", "> 0"]),
    ("fetch", "--retries", "-1", ["--retries", "-1", ">= 0 and <= 100"]),
    ("fetch", "--retries", "1000000000", ["--retries", "1000000000", "<= 100"]),
    ("fetch", "--retries", "2.5", ["--retries", "'2.5'", "whole number"]),
    ("fetch", "--workers", "0", ["--workers", "0", ">= 1 and <= 64"]),
    ("fetch", "--workers", "100000", ["--workers", "100000", "<= 64"]),
    ("fetch", "--workers", "-3", ["--workers", "-3", ">= 1"]),
    ("fetch", "--max-mb", "0", ["--max-mb", "0", "> 0 and <= 1024"]),
    ("fetch", "--max-mb", "inf", ["--max-mb", "inf", "<= 1024"]),
    ("fetch", "--max-mb", "nan", ["--max-mb", "nan", "<= 1024"]),
    ("fetch", "--max-mb", "3e10", ["--max-mb", "3e+10", "<= 1024"]),
    ("fetch", "--max-mb", "-1", ["--max-mb", "-1", "> 0"]),
    ("fetch", "--backoff", "nan", ["--backoff", "nan", ">= 0 and <= 60"]),
    ("fetch", "--backoff", "-1", ["--backoff", "-1", ">= 0"]),
    ("fetch", "--min-size", "0", ["--min-size", "0", ">= 1 and <= 16384"]),
    ("fetch", "--min-size", "99999999", ["--min-size", "99999999", "<= 16384"]),
    ("verify", "--min-size", "-5", ["--min-size", "-5", ">= 1"]),
    ("verify", "--min-size", "1e9", ["--min-size", "'1e9'", "whole number"]),
    ("verify", "--min-size", "20000", ["--min-size", "20000", "<= 16384"]),
]


@pytest.mark.parametrize("command, flag, value, words", NUMBER_CASES,
                         ids=[f"{c[0]}{c[1]}={c[2]}" for c in NUMBER_CASES])
def test_numbers_out_of_range_are_one_line(tmp_path: Path, capsys, command, flag, value, words) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(JPG)
    urls = url_file(tmp_path, "ftp://example.org/a.jpg")  # never fetched, so a missed check cannot hang the test
    out = tmp_path / "out"
    before = tree_snapshot(tmp_path)
    head = ["fetch", str(urls), "--out", str(out)] if command == "fetch" else ["verify", str(images)]
    status, stdout, stderr = run_photos([*head, flag, value], capsys)
    assert_one_line_error(status, stdout, stderr, *words)
    assert tree_snapshot(tmp_path) == before and not out.exists()  # nothing made, nothing moved


def test_timeout_nan_from_a_real_process_marks_nothing(tmp_path: Path) -> None:
    urls = url_file(tmp_path, "http://127.0.0.1:1/a.jpg")
    result = run_module("photos", "fetch", str(urls), "--out", str(tmp_path / "out"), "--timeout", "nan",
                        "--retries", "0", timeout=60)
    assert_cli_error(result, "--timeout", "nan", "3600")
    assert not (tmp_path / "out").exists()  # no manifest that could mark the URL invalid


def test_urls_marked_invalid_by_a_bad_flag_are_retried_once_the_flag_is_right(server: ImageServer,
                                                                             tmp_path: Path) -> None:
    # What an older version wrote after `--timeout nan`: every good URL "invalid" in the manifest.
    server.add("/a.jpg", JPG)
    url = server.url("/a.jpg")
    urls = url_file(tmp_path, url)
    out = tmp_path / "cat"
    out.mkdir()
    (out / "_manifest.csv").write_text("url,file,sha256,bytes,status,error,attempts\n"
                                       f"{url},,,0,invalid,Invalid value NaN (not a number),1\n")
    result = run_module("photos", "fetch", str(urls), "--out", str(out), "--timeout", "5", "--quiet",
                        "--min-size", "8", timeout=HANG_BOUND_S)
    assert result.returncode == 0, result.stderr
    (row,) = read_csv(out / "_manifest.csv")
    assert row["status"] == "ok" and server.requests["/a.jpg"] == 1


# ---------------------------------------------------------------------------------------------
# 3. Verify: one run per folder at a time; unreadable files reported and left alone.
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def messy(tmp_path: Path) -> Path:
    """A class folder with a good photo, a copy of it, a tiny one and a text file."""
    folder = tmp_path / "cat"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(JPG)
    (folder / "b_copy.jpg").write_bytes(JPG)
    (folder / "c_tiny.png").write_bytes(image_bytes(8, 8, "PNG", seed=12))
    (folder / "notes.txt").write_text("not a photo")
    return folder


@pytest.mark.parametrize("command", ["verify", "verify-dry-run", "fetch"])
def test_a_locked_folder_is_refused_naming_the_holder(messy: Path, tmp_path: Path, command) -> None:
    before = tree_snapshot(messy)
    if command == "fetch":
        for path in list(messy.iterdir()):
            path.unlink()  # a folder fetch may use; the lock alone must stop it
        before = tree_snapshot(messy)
        argv = ["fetch", str(url_file(tmp_path, "http://127.0.0.1:1/a.jpg")), "--out", str(messy)]
    else:
        argv = ["verify", str(messy)] + (["--dry-run"] if command == "verify-dry-run" else [])
    with folder_lock(messy, "verify"):
        result = run_module("photos", *argv, timeout=60)
        holder = (messy / LOCK_NAME).read_text().strip()
    line = assert_cli_error(result, str(messy), "in use by another photos run", f"pid {os.getpid()}")
    assert holder in line
    assert tree_snapshot(messy) == before and not (messy / LOCK_NAME).exists()


def test_a_stale_lock_file_from_a_killed_run_is_reused(messy: Path, capsys) -> None:
    (messy / LOCK_NAME).write_text("pid 999999, photos verify\n")  # the file stays when a run is killed
    status, stdout, _ = run_photos(["verify", str(messy), "--quiet"], capsys)
    assert status == 0 and "quarantined           3" in stdout
    assert not (messy / LOCK_NAME).exists()


def test_two_verify_runs_at_once_never_trip_over_each_other(messy: Path) -> None:
    for i in range(30):  # enough work that the two runs overlap
        (messy / f"z{i:02d}.png").write_bytes(image_bytes(64, 64, "PNG", mode="P", seed=100 + i))
    before = {hash(data) for data in tree_snapshot(messy).values()} - {hash(JPG)}
    commands = [[sys.executable, "-m", "photos", "verify", str(messy), "--quiet"]] * 2
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    runs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for c in commands]
    outcomes = [(run.wait(timeout=120), *run.communicate()) for run in runs]
    for status, stdout, stderr in outcomes:
        assert "Traceback" not in stderr and status in (0, 2), stderr
        if status == 2:
            assert_one_line_error(status, stdout, stderr, "in use by another photos run")
    assert 0 in [status for status, _, _ in outcomes]
    files = {p.relative_to(messy).as_posix() for p in messy.rglob("*") if p.is_file()}
    quarantined = {f for f in files if f.startswith("_quarantine/")}
    assert {f.split("/", 2)[2] for f in quarantined} == {"b_copy.jpg", "c_tiny.png", "notes.txt"}  # each once
    assert len([f for f in files if f.endswith(".png") and not f.startswith("_")]) == 30  # converted in place
    assert before  # (the palette images were rewritten as RGB, so their bytes changed: counted above)


def _refuse(names: set[str], error: OSError):
    """A ``photos.verify._read_file`` that fails with ``error`` for the files named ``names``."""
    real = photos.verify._read_file

    def read(path: Path) -> bytes:
        if path.name in names:
            raise error
        return real(path)

    return read


UNREADABLE_CASES = [
    ("permission", PermissionError(13, "Permission denied"), "Permission denied"),
    ("io-error", OSError(5, "Input/output error"), "Input/output error"),
    ("gone", FileNotFoundError(2, "No such file or directory"), "gone (moved or deleted while verify ran)"),
]


@pytest.mark.parametrize("name, error, detail", UNREADABLE_CASES, ids=[c[0] for c in UNREADABLE_CASES])
def test_an_unreadable_file_is_reported_and_left_alone(messy: Path, capsys, monkeypatch, name, error, detail) -> None:
    # Injected at the one place verify reads, so the case runs as root too (root reads chmod-000 files).
    monkeypatch.setattr(photos.verify, "_read_file", _refuse({"a.jpg", "notes.txt"}, error))
    status, stdout, stderr = run_photos(["verify", str(messy), "--quiet"], capsys)
    assert status == 0 and stderr == "" and "skipped               2" in stdout
    assert f"skipped a.jpg: {detail}" in stdout
    assert (messy / "a.jpg").read_bytes() == JPG and (messy / "notes.txt").exists()  # in place, not quarantined
    rows = {row["file"]: row for row in read_csv(messy / "_verify.csv")}
    assert (rows["a.jpg"]["action"], rows["a.jpg"]["reason"], rows["a.jpg"]["detail"]) == ("skip", "unreadable",
                                                                                            detail)
    # the unreadable a.jpg is not the "original" of its copy, so the copy is kept, not called a duplicate
    assert rows["b_copy.jpg"]["action"] == "keep"
    assert sorted(p.relative_to(messy).as_posix() for p in (messy / "_quarantine").rglob("*") if p.is_file()) == [
        "_quarantine/too-small/c_tiny.png"]


def test_an_unreadable_file_in_a_dry_run_is_listed(messy: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(photos.verify, "_read_file", _refuse({"c_tiny.png"}, PermissionError(13, "Permission denied")))
    before = tree_snapshot(messy)
    status, stdout, _ = run_photos(["verify", str(messy), "--dry-run", "--quiet"], capsys)
    assert status == 0 and "skipped c_tiny.png: Permission denied" in stdout
    assert "c_tiny.png: unreadable" not in stdout  # listed as skipped, not as a planned change
    assert tree_snapshot(messy) == before


def test_a_file_that_goes_away_before_it_is_moved_is_skipped(messy: Path, capsys, monkeypatch) -> None:
    real = photos.verify._inspect

    def inspect_then_vanish(path, folder, min_size):
        check = real(path, folder, min_size)
        if path.name == "notes.txt":
            path.unlink()  # another program removed it between the check and the move
        return check

    monkeypatch.setattr(photos.verify, "_inspect", inspect_then_vanish)
    status, stdout, stderr = run_photos(["verify", str(messy), "--quiet"], capsys)
    assert status == 0 and "Traceback" not in stderr and "skipped notes.txt: gone" in stdout
    assert (messy / "_quarantine" / "duplicate" / "b_copy.jpg").exists()  # the rest of the run went on


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode; the injected cases cover it")
def test_a_chmod_000_file_is_skipped(messy: Path, capsys) -> None:
    (messy / "a.jpg").chmod(0)
    try:
        status, stdout, _ = run_photos(["verify", str(messy), "--quiet"], capsys)
        assert status == 0 and "skipped a.jpg: Permission denied" in stdout and (messy / "a.jpg").exists()
    finally:
        (messy / "a.jpg").chmod(0o644)


# ---------------------------------------------------------------------------------------------
# 4. Output folders that are not the tool's are never clobbered.
# ---------------------------------------------------------------------------------------------

def _someone_elses(out: Path) -> list[str]:
    out.mkdir()
    (out / "holiday.jpg").write_bytes(JPG)
    (out / "notes.txt").write_text("mine")
    return ["holiday.jpg", "notes.txt"]


def _a_task_root(out: Path) -> list[str]:
    (out / "cat").mkdir(parents=True)
    (out / "cat" / "00000_0123456789.jpg").write_bytes(JPG)
    return ["cat"]


def _a_users_manifest(out: Path) -> list[str]:
    out.mkdir()
    (out / "_manifest.csv").write_text("name,price\nbread,2\n")
    return ["_manifest.csv", "expected columns"]


def _a_manifest_folder(out: Path) -> list[str]:
    (out / "_manifest.csv").mkdir(parents=True)
    return ["_manifest.csv", "is not a file"]


def _an_unreadable_manifest(out: Path) -> list[str]:
    out.mkdir()
    (out / "_manifest.csv").write_bytes(b"url,file,sha256,bytes,status,error,attempts\n\xff\xfe,,,x,ok,,1\n")
    return ["_manifest.csv", "unreadable"]


OUT_CASES = [_someone_elses, _a_task_root, _a_users_manifest, _a_manifest_folder, _an_unreadable_manifest]


@pytest.mark.parametrize("make", OUT_CASES, ids=[m.__name__.strip("_") for m in OUT_CASES])
def test_fetch_never_clobbers_a_folder_it_did_not_make(server: ImageServer, tmp_path: Path, make) -> None:
    server.add("/a.jpg", JPG)
    urls = url_file(tmp_path, server.url("/a.jpg"))
    out = tmp_path / "out"
    words = make(out)
    before = tree_snapshot(tmp_path)
    result = run_module("photos", "fetch", str(urls), "--out", str(out), "--quiet", timeout=60)
    assert_cli_error(result, str(out), *words)
    assert tree_snapshot(tmp_path) == before and server.requests["/a.jpg"] == 0


def test_verify_never_overwrites_a_report_it_did_not_write(messy: Path, capsys) -> None:
    (messy / "_verify.csv").write_text("my,own,table\n1,2,3\n")
    before = tree_snapshot(messy)
    status, stdout, stderr = run_photos(["verify", str(messy)], capsys)
    assert_one_line_error(status, stdout, stderr, "_verify.csv", "not a photos verify report")
    assert tree_snapshot(messy) == before


@pytest.mark.parametrize("contents", ["empty", "hidden-files-only", "fetched-files-only"])
def test_fetch_accepts_its_own_or_an_empty_folder(server: ImageServer, tmp_path: Path, capsys, contents) -> None:
    server.add("/a.jpg", JPG)
    urls = url_file(tmp_path, server.url("/a.jpg"))
    out = tmp_path / "out"
    out.mkdir()
    if contents == "hidden-files-only":
        (out / ".DS_Store").write_bytes(b"\0")
    elif contents == "fetched-files-only":  # a folder whose manifest was lost: fetch's names are enough
        (out / "00003_abcdef0123.jpg").write_bytes(image_bytes(70, 70, "JPEG", seed=13))
    status, stdout, stderr = run_photos(["fetch", str(urls), "--out", str(out), "--quiet"], capsys)
    assert status == 0 and stderr == "", stderr
    assert "downloaded            1" in stdout
