"""Cells away from the run folder: packing and installing a cell folder, the Ray task that trains in a
node-local folder and ships it back, and a real two-node Ray cluster on this machine whose worker node
cannot see the driver's run folder at all (a private mount namespace with an empty tmpfs over it)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from study.errors import ConfigError
from study.run.executors import CellJob, _install_shipped, run_shipped
from study.run.runfolder import CellFolder
from study.run.ship import ShipError, install_cell, pack_cell, storage_filesystem
from kit.store import read_json
from study.run.sweep import main
from tests.study.test_sweep import SMOKE, SMOKE_CELLS, fake_run_cell, read_results

REPO = Path(__file__).resolve().parents[2]


def cell_job(run_dir: Path, cell_id: str = "c1") -> CellJob:
    from study.config.sweepfile import load_sweep

    spec = load_sweep("smoke").cells()[0]
    return CellJob(spec, run_dir / "cells" / cell_id, "cpu")


# ---------------------------------------------------------------- packing and installing


def test_a_packed_cell_installs_byte_for_byte_over_an_earlier_attempt(tmp_path: Path):
    source = tmp_path / "worker" / "c1"
    (source / "events").mkdir(parents=True)
    files = {"metrics.json": b'{"status": "done"}', "checkpoint.pt": bytes(range(256)) * 40,
             "events/e.1": b"\x00\x01", "log.txt": "epoch 1 \u2713\n".encode()}
    for name, data in files.items():
        (source / name).write_bytes(data)
    target = tmp_path / "run" / "cells" / "c1"
    target.mkdir(parents=True)
    (target / "error.json").write_text('{"status": "failed", "error": "old"}')  # an earlier, failed attempt
    install_cell(target, pack_cell(source))
    assert {str(p.relative_to(target)): p.read_bytes() for p in target.rglob("*") if p.is_file()} == files
    assert sorted(p.name for p in target.parent.iterdir()) == ["c1"]  # nothing but cells in cells/
    assert list((tmp_path / "run" / ".shipping").iterdir()) == []  # no staging or discarded folder left


def test_a_cell_folder_over_the_limit_is_refused_naming_its_largest_file(tmp_path: Path):
    (tmp_path / "checkpoint.pt").write_bytes(b"x" * 3 * 2**20)
    (tmp_path / "log.txt").write_text("small")
    with pytest.raises(ShipError, match=r"3 MB \(largest: checkpoint.pt, 3 MB\), over the 2 MB limit"):
        pack_cell(tmp_path, limit_mb=2)


def test_a_damaged_payload_leaves_the_run_folder_as_it_was(tmp_path: Path):
    target = tmp_path / "cells" / "c1"
    with pytest.raises(ShipError, match="could not be unpacked"):
        install_cell(target, b"not a tar")
    assert list(tmp_path.joinpath("cells").iterdir()) == []
    assert list(tmp_path.joinpath(".shipping").iterdir()) == []


def test_run_shipped_never_touches_the_run_folder_and_the_driver_installs_it(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("STUDY_NODE_CACHE", str(tmp_path / "node-cache"))
    job = cell_job(tmp_path / "run")
    outcome, payload = run_shipped(job, fake_run_cell, 1024, None)
    assert outcome.status == "done" and isinstance(payload, bytes)
    assert not (tmp_path / "run").exists()  # the worker wrote only its own temporary folder
    assert _install_shipped(job, outcome, payload, None) == outcome
    assert read_json(job.cell_dir / "metrics.json")["status"] == "done"
    assert CellFolder(job.cell_dir).read_spec() == job.spec.to_dict()


def test_a_cell_too_large_to_ship_is_failed_with_the_reason(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("STUDY_NODE_CACHE", str(tmp_path / "node-cache"))
    job = cell_job(tmp_path / "run")
    outcome, payload = run_shipped(job, fake_run_cell, 1e-6, None)
    shipped = _install_shipped(job, outcome, payload, None)
    assert shipped.status == "failed"
    assert "could not be shipped back to the driver" in shipped.error and "over the 1e-06 MB limit" in shipped.error
    assert CellFolder(job.cell_dir).state().status.value == "failed"  # recorded, not lost


def test_shipping_through_a_storage_uri(tmp_path: Path, monkeypatch):
    pytest.importorskip("fsspec")
    monkeypatch.setenv("STUDY_NODE_CACHE", str(tmp_path / "node-cache"))
    store = tmp_path / "store"
    store.mkdir()
    job = cell_job(tmp_path / "run")
    outcome, payload = run_shipped(job, fake_run_cell, 1024, f"file://{store}")
    assert isinstance(payload, str) and payload.endswith(".tar") and len(list(store.iterdir())) == 1
    assert _install_shipped(job, outcome, payload, f"file://{store}").status == "done"
    assert list(store.iterdir()) == []  # the driver removes what it installed
    assert (job.cell_dir / "metrics.json").is_file()


def test_a_storage_uri_without_its_library_is_one_line(monkeypatch):
    pytest.importorskip("fsspec")
    import fsspec

    def no_s3fs(*args, **kwargs):  # what fsspec raises when s3fs is not installed
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(fsspec.core, "url_to_fs", no_s3fs)
    with pytest.raises(ConfigError, match=r"--ship-uri s3://bucket/x: the library for this storage is missing "
                                          r"\(Install s3fs to access S3\)"):
        storage_filesystem("s3://bucket/x")


def test_an_unreachable_ray_address_is_one_line_and_writes_nothing(tmp_path: Path, capsys):
    pytest.importorskip("ray")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [*SMOKE, "--out", str(tmp_path / "run"), "--executor", "ray", "--address", f"127.0.0.1:{port}"]
    assert main(argv, run_cell=fake_run_cell) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --address 127.0.0.1:{port}: no Ray cluster answers there") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- a two-node Ray cluster on this machine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _can_hide_folders() -> bool:
    """Whether this process may give a child a private mount namespace (root in most containers/CI)."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "none", "/mnt"],
                          capture_output=True).returncode == 0


class RayCluster:
    """A head node and worker nodes started with ``ray start --block``, each its own process group.

    Worker nodes offer the ``cell_node`` resource (cells run only there), get their own temp dir, HOME and
    cwd, and see an empty tmpfs over ``hidden`` (the driver's folder): they cannot read or write it.
    """

    def __init__(self, base: Path, hidden: Path) -> None:
        self.base, self.hidden, self.port = base, hidden, _free_port()
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(Path(__file__).parent)]),  # + this module "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0",
                    "RAY_AUTH_MODE": "disabled",  # a private test cluster on 127.0.0.1: no token to hand around
                    # notice a dead node in ~2 s instead of ~30 s
                    "RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "500",
                    "RAY_health_check_failure_threshold": "3"}
        self.processes: dict[str, subprocess.Popen] = {}
        self.address = f"127.0.0.1:{self.port}"

    def _start(self, name: str, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        log = open(self.base / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def start_head(self) -> None:
        self._start("head", ["ray", "start", "--head", "--port", str(self.port), "--node-ip-address", "127.0.0.1",
                             "--temp-dir", str(self.base / "head"), "--num-cpus", "1", "--num-gpus", "0",
                             "--include-dashboard", "false", "--block"], self.base, self.env)

    def start_worker(self, name: str) -> None:
        home = self.base / name
        home.mkdir()
        ray_start = ["ray", "start", "--address", self.address, "--node-ip-address", "127.0.0.1",
                     "--temp-dir", str(self.base / f"{name}-tmp"), "--num-cpus", "1", "--num-gpus", "0",
                     "--resources", '{"cell_node": 1}', "--block"]
        script = f'mount -t tmpfs none "{self.hidden}" && cd "{home}" && exec "$@"'
        command = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *ray_start]
        self._start(name, command, home, {**self.env, "HOME": str(home), "STUDY_NODE_CACHE": str(home / "cache")})

    def kill(self, name: str) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.processes[name].pid, signal.SIGKILL)
        self.processes[name].wait()

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.kill(name)
        # Ray daemons that left the process group: ours are the ones naming our temp dirs (never `ray stop`,
        # which would stop every Ray instance on the machine).
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with contextlib.suppress(OSError):
                    if str(self.base).encode() in (proc / "cmdline").read_bytes():
                        os.kill(int(proc.name), signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)

    def wait_for_nodes(self, ray, count: int, timeout_s: float = 240) -> None:
        deadline = time.monotonic() + timeout_s
        while sum(node["Alive"] for node in ray.nodes()) < count:
            assert time.monotonic() < deadline, f"the Ray cluster did not reach {count} nodes; logs in {self.base}"
            time.sleep(0.5)


@pytest.fixture
def ray_cluster(tmp_path: Path, monkeypatch):
    ray = pytest.importorskip("ray", reason="ray not installed (pip install -e '.[ray]')")
    if shutil.which("ray") is None:
        pytest.skip("the ray command is not on PATH")
    if not _can_hide_folders():
        pytest.skip("cannot give a Ray node a private mount namespace here (unshare -m needs root/CAP_SYS_ADMIN), "
                    "so a worker node could not be kept from the run folder")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # the driver (this process) as the nodes
    hidden = tmp_path / "driver"
    hidden.mkdir()
    # Ray's socket paths must fit in 107 characters: a short base outside pytest's deep tmp_path.
    cluster = RayCluster(Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp")), hidden)
    try:
        cluster.start_head()
        cluster.start_worker("node1")
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", cluster.port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the Ray head did not start"
                time.sleep(0.5)
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        cluster.wait_for_nodes(ray, 2)
        yield cluster
    finally:
        ray.shutdown()
        cluster.stop()


@pytest.mark.ray
@pytest.mark.slow
def test_the_smoke_sweep_on_a_worker_node_that_cannot_see_the_run_folder(ray_cluster, tmp_path: Path, capsys):
    pytest.importorskip("study.run.cell")
    run_dir = tmp_path / "driver" / "run"
    argv = [*SMOKE, "--out", str(run_dir), "--executor", "ray", "--ray-resources", '{"cell_node": 1}']
    assert main(argv) == 0
    rows = read_results(run_dir)
    assert [row["cell_id"] for row in rows] == SMOKE_CELLS and all(row["status"] == "done" for row in rows)
    for cell_id in SMOKE_CELLS:
        names = {path.name for path in (run_dir / "cells" / cell_id).iterdir()}
        assert {"spec.json", "metrics.json", "log.txt", "history.csv", "predictions.csv", "checkpoint.pt"} <= names
        assert "train_loss" in (run_dir / "cells" / cell_id / "log.txt").read_text()
    assert sorted(path.name for path in (run_dir / "cells").iterdir()) == sorted(SMOKE_CELLS)
    assert not (run_dir / ".cache").exists()  # datasets were cached on the worker node, not here
    assert list((ray_cluster.base / "node1" / "cache").iterdir())  # ... there


def sleepy_cell(spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
    """Marks each attempt (in a folder the nodes share) and takes a few seconds, so a node can die mid-cell."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    marks = Path(os.environ["HOME"]).parent / "attempts"
    marks.mkdir(exist_ok=True)
    (marks / f"{node}-{os.getpid()}").touch()
    time.sleep(6)
    saw_run_folder = Path(os.environ["DRIVER_FOLDER"]).joinpath("run").exists()
    (Path(cell_dir) / "node.json").write_text(json.dumps({"node": node, "saw_run_folder": saw_run_folder}))
    return fake_run_cell(spec, cell_dir, device, cache_dir, progress)  # the finish path, the manifest last


@pytest.mark.ray
@pytest.mark.slow
def test_a_node_killed_mid_cell_reruns_the_cell_on_another_node(ray_cluster, tmp_path: Path):
    import ray

    run_dir = tmp_path / "driver" / "run"
    argv = [*SMOKE, "--out", str(run_dir), "--executor", "ray", "--ray-resources", '{"cell_node": 1}',
            "--set", "grid.aug=none", "--runtime-env", f'{{"env_vars": {{"DRIVER_FOLDER": "{tmp_path / "driver"}"}}}}']
    ray.shutdown()  # the sweep connects itself, with the runtime_env above
    statuses: list[int] = []
    sweep = threading.Thread(target=lambda: statuses.append(main(
        [*argv, "--address", ray_cluster.address], run_cell=sleepy_cell)))
    sweep.start()
    marks = ray_cluster.base / "attempts"
    deadline = time.monotonic() + 240
    while not (marks.is_dir() and any(marks.iterdir())):
        assert time.monotonic() < deadline and sweep.is_alive(), "the cell did not start on node1"
        time.sleep(0.2)
    ray_cluster.kill("node1")  # mid-cell: its raylet, workers and object store die at once
    ray_cluster.start_worker("node2")
    sweep.join(timeout=300)
    assert not sweep.is_alive() and statuses == [0]
    [row] = read_results(run_dir)
    assert row["status"] == "done"
    cell = run_dir / "cells" / row["cell_id"]
    metrics = read_json(cell / "node.json")
    nodes = {path.name.split("-")[0] for path in marks.iterdir()}
    assert len(nodes) == 2 and metrics["node"] in nodes  # started on node1, rerun (and finished) on node2
    assert metrics["saw_run_folder"] is False  # the worker node could not see the driver's run folder
    assert sorted(path.name for path in (run_dir / "cells").iterdir()) == [row["cell_id"]]  # no duplicate


@pytest.mark.ray
@pytest.mark.slow
def test_a_driver_killed_mid_sweep_resumes_with_nothing_lost(ray_cluster, tmp_path: Path):
    pytest.importorskip("study.run.cell")
    run_dir = tmp_path / "driver" / "run"
    command = [sys.executable, "-m", "study.sweep", *SMOKE, "--out", str(run_dir), "--executor", "ray",
               "--address", ray_cluster.address, "--ray-resources", '{"cell_node": 1}', "--quiet"]
    env = {**ray_cluster.env, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = ray_cluster.base / "node1" / "cache"
    deadline = time.monotonic() + 240
    try:
        while not (cache.is_dir() and any(cache.iterdir())):  # the first cell is building its data on node1
            assert first.poll() is None and time.monotonic() < deadline, "the first cell did not start"
            time.sleep(0.1)
    finally:
        first.kill()  # SIGKILL: no cleanup at all
        first.wait()
    assert not any((run_dir / "cells" / cell_id / "metrics.json").exists() for cell_id in SMOKE_CELLS)
    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert second.returncode == 0, second.stderr
    assert "0 already done, 2 to run" in second.stdout
    assert [row["status"] for row in read_results(run_dir)] == ["done", "done"]
    assert sorted(path.name for path in (run_dir / "cells").iterdir()) == sorted(SMOKE_CELLS)
