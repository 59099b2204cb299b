"""Importing ``analysis`` changes no global state (run in a fresh interpreter)."""

import json
import subprocess
import sys

from catalogue import REPO

SCRIPT = """
import json, matplotlib, torch
backend = dict.__getitem__(matplotlib.rcParams, "backend")  # without resolving the auto backend
params = {k: repr(v) for k, v in dict.items(matplotlib.rcParams) if k != "backend"}
rng = torch.random.get_rng_state()
import analysis, analysis.figures, analysis.cell_analysis, analysis.pipeline
print(json.dumps({  # dict.items: reading rcParams["backend"] would resolve it
    "backend": dict.__getitem__(matplotlib.rcParams, "backend") == backend,
    "rc": {k: repr(v) for k, v in dict.items(matplotlib.rcParams) if k != "backend"} == params,
    "rng": bool(torch.equal(torch.random.get_rng_state(), rng)),
}))
"""


def test_import_leaves_matplotlib_and_torch_rng_unchanged():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"backend": True, "rc": True, "rng": True}
