"""Everything that trains: sweep specs, cells, executors and run folders.

Importing ``study`` stays cheap (no torch): the training engine is imported
by the modules that need it (``study.cell``, ``study.train``, ``study.sweep``).
"""

from study.config import ConfigError, SweepSpec, TrainSpec, from_mapping, load_sweep, parse_sweep
from study.store import atomic_torch_save, atomic_write_json, atomic_write_text

__all__ = [
    "ConfigError",
    "SweepSpec",
    "TrainSpec",
    "from_mapping",
    "load_sweep",
    "parse_sweep",
    "atomic_torch_save",
    "atomic_write_json",
    "atomic_write_text",
]
