"""Seeds derived from a spec's seed, one per named use of randomness, independent of each other.

A cell has two seeds of its own (``TrainSpec.seed``, the init seed, and
``TrainSpec.resolved_data_seed``, the data seed); every other generator
draws from ``derive_seed(seed, purpose)``. Each purpose keeps the derivation
it was introduced with: changing one would change every model, dataset or
measurement drawn from it (``tests/study/test_smoke_pinned.py`` and
``tests/kit/test_seeds.py`` pin them). A new purpose should use the first
kind (a purpose name mixed in by ``numpy.random.SeedSequence``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["PURPOSES", "derive_seed"]

# What each purpose's seed drives, and from which of the cell's seeds it is derived.
PURPOSES: dict[str, str] = {
    "init": "model weight initialisation (from the init seed)",
    "lr_find": "the learning-rate finder's batches (from the init seed)",
    "bn_stats": "which training images set the recomputed BatchNorm statistics (PreciseBN; from the init seed)",
    "test": "the i.i.d. test scenes (from the data seed)",
    "test_dewind": "the DeWind-controlled test scenes (from the data seed)",
    "test_held_out": "the test scenes of held-out counts (from the data seed)",
    "analysis_scenes": "the analysis's fresh scenes (Weber fit, number units; from the data seed)",
}

# The three derivations in use, kept as they were introduced (see the module docstring).
_NAMED = ("init", "lr_find", "bn_stats")  # SeedSequence over the seed and the purpose name's bytes; 63 bits
_DATA_STREAMS = {"test": 1, "test_dewind": 2, "test_held_out": 3}  # SeedSequence over (seed, stream); 32 bits
_ANALYSIS_OFFSET = 4242  # the data seed moved by a constant: scenes the training never saw


def derive_seed(seed: int, purpose: str) -> int:
    """The seed of one use of randomness, independent of the other purposes' seeds.

    Args:
        seed: the cell's init seed or data seed (a non-negative integer); ``PURPOSES`` says which.
        purpose: one of ``PURPOSES``.

    Returns:
        a non-negative integer seed (below 2**63).

    Raises:
        ValueError: ``purpose`` is not one of ``PURPOSES`` or ``seed`` is negative.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"seed purpose {purpose!r} is not one of: {', '.join(PURPOSES)}")
    if int(seed) < 0:
        raise ValueError(f"seed {seed!r} for {purpose!r} is negative; seeds are integers from 0")
    if purpose in _NAMED:
        state = np.random.SeedSequence([int(seed), *purpose.encode()]).generate_state(2, np.uint64)
        return int(state[0] >> np.uint64(1))
    if purpose in _DATA_STREAMS:
        return int(np.random.SeedSequence([int(seed), _DATA_STREAMS[purpose]]).generate_state(1)[0])
    return int(seed) + _ANALYSIS_OFFSET
