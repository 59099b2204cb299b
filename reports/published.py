"""The original post's experiments and published numbers, as data.

Source: the blog post "Image Classification with fastai" (Josh Varty,
January 2019) and its follow-up "Image Classification: Counting Part II"
(2019-02-01); the numbers below are the error rates those posts report. Each
entry names the TrainSpec settings that identify the matching cell of a sweep
(the ``seed`` preset, ``study/presets/seed.toml``, runs exactly these cells),
so the report can put our number beside the post's.

Axes in ``match`` are compared with a results.csv row: ``data`` by the folder's
last path component, ``lr`` numerically, everything else as text. The post's
second fits continue from the first, so those experiments match on the cell's
``stages`` (canonical form, ``study.config.schedule``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["PublishedExperiment", "PUBLISHED", "POST_TITLE", "POST_RECIPE"]

POST_TITLE = "Image Classification with fastai (Josh Varty, 2019) and Counting Part II"

# The recipe every experiment shares unless its own settings say otherwise.
POST_RECIPE = (
    "fastai v1: pretrained ResNet-34 (ImageNet), 224 px, get_transforms() defaults, "
    "fit_one_cycle (max lr 3e-3), 80/20 random split"
)


@dataclasses.dataclass(frozen=True)
class PublishedExperiment:
    """One row of the post's results.

    Attributes:
        name: what the experiment is, as the report shows it.
        settings: the post's settings in words.
        published_error: the post's error rate (None where only words exist).
        published_text: the published result as the post states it.
        match: TrainSpec field -> value a results row must have to count as
            our run of this experiment.
    """

    name: str
    settings: str
    published_error: float | None
    published_text: str
    match: dict[str, Any]

    @property
    def published_accuracy(self) -> float | None:
        return None if self.published_error is None else 1.0 - self.published_error


_PHOTO = {"task": "folder", "aug": "fastai", "weights": "imagenet"}
_COUNTING = {"task": "counting", "sizes": "fixed", "weights": "imagenet"}
# The seed preset's counting schedule: 3 frozen epochs at 3e-3, then 15 unfrozen at 1e-4 on the same model.
_COUNTING_TWO_FITS = "frozen 3@0.003, unfrozen 15@0.0001"

PUBLISHED: tuple[PublishedExperiment, ...] = (
    PublishedExperiment(
        "Impressionist vs modernist paintings",
        "pretrained ResNet-34, 5 epochs, default transforms, lr 3e-3",
        0.05,
        "error 0.05 (95%); 100% after lr tuning",
        {**_PHOTO, "data": "paintings", "epochs": 5, "lr": 3e-3},
    ),
    PublishedExperiment(
        "Cats vs kittens (~180 + ~180 photos)",
        "pretrained ResNet-34, 5 epochs, default transforms, lr 3e-3",
        0.136,
        "error 0.136 (86%)",
        {**_PHOTO, "data": "kittencat", "epochs": 5, "lr": 3e-3},
    ),
    PublishedExperiment(
        "Cats vs kittens, lower learning rate",
        "lr 1e-4, 15 epochs",
        0.076,
        "error 0.076 (92%)",
        {**_PHOTO, "data": "kittencat", "stages": "frozen 5@0.003, unfrozen 15@0.0001", "lr": 1e-4},
    ),
    PublishedExperiment(
        "Counting 1-5 circles",
        "matplotlib images (~1,000 per class, from the error rates), default transforms, 3 epochs, lr 3e-3",
        0.136,
        "error 0.136 (86-87%)",
        {**_COUNTING, "counts": "1-5", "aug": "fastai", "epochs": 3, "lr": 3e-3},
    ),
    PublishedExperiment(
        "Counting 1-5 circles, lower learning rate",
        "default transforms, lr 1e-4, 15 epochs",
        0.002,
        "error 0.002 (99.8%)",
        {**_COUNTING, "counts": "1-5", "aug": "fastai", "stages": _COUNTING_TWO_FITS, "lr": 1e-4},
    ),
    PublishedExperiment(
        "Counting 45-50 circles",
        "default transforms, 3 epochs, lr 3e-3",
        0.75,
        "error ~0.75 (~25%); best 27%",
        {**_COUNTING, "counts": "45-50", "aug": "fastai", "epochs": 3, "lr": 3e-3},
    ),
    # Part II does not say which count range or how much data; the seed preset
    # runs 1-5 and 45-50 with 10,000 images, so any count range matches here.
    PublishedExperiment(
        "Counting, Part II",
        '"sensible" transforms (no crop/zoom, add vertical flip), more data, lr 1e-4, 15 epochs',
        0.0,
        "error 0.000 by epoch 14-15",
        {"task": "counting", "weights": "imagenet", "aug": "sensible", "sizes": "fixed",
         "stages": _COUNTING_TWO_FITS, "lr": 1e-4},
    ),
    PublishedExperiment(
        "Counting, Part II, circles of varied sizes",
        "same as Part II, circle radii varied",
        0.0,
        "error 0.000 by epoch 14-15",
        {"task": "counting", "weights": "imagenet", "aug": "sensible", "sizes": "varied",
         "stages": _COUNTING_TWO_FITS, "lr": 1e-4},
    ),
)
