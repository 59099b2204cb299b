"""Everything that trains, in four layers that import downwards only.

- ``study.config``: what a cell and a sweep are (specs, sweep files, schedules, labels); no torch.
- ``study.data``: stimuli and image folders as device tensors, augmentation.
- ``study.engine``: models, readouts, the learner, precision, training observers.
- ``study.run``: cells, executors, the run folder, the cost model.

Below them sits ``study.errors`` (and, below every package, ``kit``); above them the command
lines ``python -m study.sweep|train|bench|audit``. Importing ``study`` stays
cheap (no torch).
"""

from study.config.coerce import from_mapping
from study.errors import CannotRunHere, ConfigError, UserError
from study.run.runfolder import CellFolder, CellStatus, RunFolder
from study.config.spec import TrainSpec

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
