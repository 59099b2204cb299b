"""Everything that trains: specs, sweeps, cells, executors and run folders.

Importing ``study`` stays cheap (no torch): the training engine is imported
by the modules that need it (``study.cell``, ``study.train``, ``study.sweep``).
"""

from study.coerce import from_mapping
from study.errors import CannotRunHere, ConfigError, UserError
from study.runfolder import CellFolder, CellStatus, RunFolder
from study.spec import TrainSpec

__all__ = [
    "CannotRunHere",
    "CellFolder",
    "CellStatus",
    "ConfigError",
    "RunFolder",
    "TrainSpec",
    "UserError",
    "from_mapping",
]
