import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[2] / "analysis" / "notebooks" / "attribution.ipynb"


def test_attribution_notebook_executes(smoke_run, monkeypatch):
    monkeypatch.setenv("COUNTING_RUN_DIR", str(smoke_run))
    monkeypatch.setenv("COUNTING_N_IMAGES", "3")
    monkeypatch.setenv("COUNTING_IG_STEPS", "4")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": os.getcwd()}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert not any(o.get("output_type") == "error" for o in outputs)
