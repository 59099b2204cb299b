"""Orchestration overhead of a sweep: N stub cells that train nothing, timed end to end through study.run.sweep.

The stub writes what a finished cell has (metrics.json, a one-row history.csv, a 100-row predictions.csv),
so everything measured is the sweep's own work: planning, folders, results rows, the executor.

    python scripts/bench_orchestration.py N local|ray OUT_FOLDER
"""
import contextlib
import io
import sys
import time
from pathlib import Path

def stub_cell(spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
    from kit.records import CellMetrics
    from study.run.runfolder import CellFolder
    cell = Path(cell_dir)
    (cell / "history.csv").write_text("epoch,train_loss,valid_loss,error_rate,accuracy,time\n1,0.5,0.5,0.1,0.9,1\n")
    (cell / "predictions.csv").write_text("split,index,label,pred,loss\n" + "".join(f"test,{i},1,1,0.1\n" for i in range(100)))
    metrics = CellMetrics(test_accuracy=0.9, valid_accuracy=0.9, seconds=0.0, device="cpu")
    CellFolder(cell).write_metrics(metrics)  # the finish path, manifest included
    return metrics.to_json()

if __name__ == "__main__":
    n, executor, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    from study.run.sweep import main
    seeds = ",".join(str(s) for s in range(n // 2))
    argv = ["--preset", "smoke", "--no-report", "--device", "cpu", "--quiet", "--out", out, "--executor", executor,
            "--set", f"grid.seed={seeds}"]
    if executor == "ray":
        import ray
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(argv, run_cell=stub_cell)
    total = time.perf_counter() - started
    print(f"{executor} {n} cells: status {status}, total {total:.1f} s, {1000 * total / n:.1f} ms per cell")
