"""Deep analysis of one finished cell: attribution, localisation, edits, cues, probes, baselines.

Everything is bounded by a ``Budget`` (a few dozen test images per cell by
default) so a whole sweep analyses in minutes on a CPU. Each step that fails
(or cannot apply, e.g. no scenes for a photo cell) adds a ``missing`` entry
and the others go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from analysis import attribution, baselines, confounds, interventions, probes
from analysis.localization import circle_masses, localization_metrics
from analysis.predict import PixelPipeline, Predictor, load_checkpoint, pixel_pipeline
from analysis.rundata import CellRecord
from synth.render import circle_masks, render_scenes
from synth.scenes import auto_gap

__all__ = ["Budget", "BUDGETS", "CellResult", "analyse_cell"]


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much of each analysis one cell gets.

    Attributes:
        images: test images attributed (balanced over classes).
        interventions: scenes edited (each edit kind once per scene).
        deletion: scenes in the deletion test; deletion_steps: removals per order.
        dewind: DeWind-controlled scenes for the confound regression.
        probe: test images for the linear probes.
        top_losses: images in the top-losses figure.
        methods: attribution methods run (Grad-CAM and IG are always drawn).
        ig_steps: Integrated Gradients steps.
    """

    images: int = 24
    interventions: int = 32
    deletion: int = 8
    deletion_steps: int = 8
    dewind: int = 200
    probe: int = 300
    top_losses: int = 8
    methods: tuple[str, ...] = ("gradcam", "integrated_gradients", "saliency", "smoothgrad", "occlusion")
    ig_steps: int = 24


BUDGETS = {
    "default": Budget(),
    "quick": Budget(images=12, interventions=16, deletion=4, deletion_steps=5, dewind=80, probe=150,
                    top_losses=4, methods=("gradcam", "integrated_gradients", "saliency"), ig_steps=16),
}


@dataclasses.dataclass
class CellResult:
    """What one cell's analysis produced.

    Attributes:
        tables: name -> tidy DataFrame (each with ``cell_id``).
        examples: images ``[E, 3, H, W]`` uint8, ``maps`` {method: ``[E, h, w]``},
            ``labels``/``preds`` ``[E]`` class names, ``index`` ``[E]`` test indices.
        top_losses: same layout for the highest-loss test images (Grad-CAM only).
        missing: ``{"what", "why"}`` for each step that did not run.
    """

    cell: CellRecord
    tables: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict)
    examples: dict[str, Any] = dataclasses.field(default_factory=dict)
    top_losses: dict[str, Any] = dataclasses.field(default_factory=dict)
    missing: list[dict[str, str]] = dataclasses.field(default_factory=list)

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Run a step; an exception becomes a ``missing`` entry instead of stopping the cell."""
        try:
            yield
        except Exception as error:  # noqa: BLE001 - one failing analysis must not lose the others
            self.missing.append({"what": f"{what} ({self.cell.label})", "why": f"{type(error).__name__}: {error}"})

    def add(self, name: str, table: pd.DataFrame) -> None:
        if table is not None and not table.empty:
            self.tables[name] = table.assign(cell_id=self.cell.cell_id, label=self.cell.label)


@dataclasses.dataclass
class _Context:
    """Loaded once per cell: model, predictor, task and the eval policy."""

    model: torch.nn.Module
    clean: torch.nn.Module
    predictor: Predictor
    transform: PixelPipeline
    task: Any
    classes: list[str]
    device: torch.device


def _load(cell: CellRecord, run_dir: Path, device: torch.device) -> _Context:
    from study.coerce import from_mapping
    from study.spec import TrainSpec
    from study.tasks import build_task

    model, info = load_checkpoint(cell.checkpoint, device)
    spec = info.get("spec") or cell.spec
    transform = pixel_pipeline(spec, info.get("normalize"))
    classes = [str(c) for c in info.get("classes") or (cell.metrics or {}).get("classes", [])]
    counts = np.array([int(c) for c in classes]) if cell.is_counting else np.arange(len(classes))
    fields = {k: v for k, v in spec.items() if k in TrainSpec.__dataclass_fields__}
    cache = run_dir / ".cache"
    task = build_task(from_mapping(TrainSpec, fields), "cpu", cache if cache.is_dir() else None)
    return _Context(model, attribution.prepare_model(model, device), Predictor(model, transform, counts, device),
                    transform, task, classes, device)


def _balanced(labels: torch.Tensor, k: int) -> np.ndarray:
    """Up to ``k`` indices taking classes in turn (first images of each class)."""
    labels = labels.numpy()
    per_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    order = [idx[i] for i in range(max((len(p) for p in per_class), default=0)) for idx in per_class if i < len(idx)]
    return np.array(order[:k], dtype=int)


def _maps(context: _Context, images: torch.Tensor, target: torch.Tensor, methods: tuple[str, ...],
          budget: Budget, background: tuple[int, int, int] = (255, 255, 255)) -> dict[str, torch.Tensor]:
    """Attribution maps ``{method: [E, h, w]}`` (CPU) of uint8 images for the target classes."""
    inputs = context.transform(images.to(context.device))  # [E, 3, h, w]
    baseline = attribution.background_baseline(inputs.shape[2], inputs.shape[3], context.transform.normalize,
                                                background, context.device)
    maps = {}
    for name in methods:
        method = attribution.create(name, context.clean, batch_size=16, n_steps=budget.ig_steps,
                                    internal_batch_size=64, nt_samples=8)
        maps[name] = method(inputs, target.to(context.device), baseline).cpu()
    return maps


def _eval_masks(scene, policy) -> torch.Tensor:
    """Per-circle masks ``[K, h, w]`` in model-input pixels (through the same eval transform)."""
    masks = circle_masks(scene)  # [K, H, W]
    if len(masks) == 0:
        return masks
    as_images = (masks * 255).round().to(torch.uint8)[:, None].expand(-1, 3, -1, -1)  # [K, 3, H, W]
    return policy.eval_transform(as_images.contiguous())[:, 0]  # [K, h, w]


def _attribution_and_localisation(result: CellResult, context: _Context, budget: Budget) -> None:
    """Maps for chosen test images, localisation per image and method, overlay examples."""
    images, labels = context.task.test_images, context.task.test_labels
    chosen = _balanced(labels, budget.images)
    predicted = context.predictor.counts(images[chosen])
    target = torch.as_tensor(predicted["pred_class"])  # explain what the model answered
    methods = tuple(dict.fromkeys(("gradcam", "integrated_gradients", *budget.methods)))
    maps = _maps(context, images[chosen], target, methods, budget)
    result.examples = {"images": images[chosen], "maps": maps, "index": chosen,
                       "labels": [context.classes[i] for i in labels[chosen]],
                       "preds": [context.classes[i] for i in predicted["pred_class"]]}
    scenes = context.task.test_scenes
    if not scenes:
        return
    rows, scores = [], []
    for position, index in enumerate(chosen):
        masks = _eval_masks(scenes[index], context.transform.policy)
        for name, method_maps in maps.items():
            rows.append({"method": name, "image": int(index), "count": scenes[index].count,
                         "correct": bool(predicted["pred_class"][position] == labels[index]),
                         **localization_metrics(method_maps[position], masks)})
        scores.append(circle_masses(maps["integrated_gradients"][position], masks).numpy())
    result.add("localization", pd.DataFrame(rows))
    result.examples["circle_scores"] = scores


def _interventions(result: CellResult, context: _Context, budget: Budget) -> None:
    scenes = context.task.test_scenes
    chosen = _balanced(context.task.test_labels, budget.interventions)
    counts = [int(c) for c in context.classes]
    gap = float(result.cell.spec.get("min_gap") or auto_gap(int(result.cell.spec["size"])))  # the cell's own gap
    table = interventions.run_interventions(context.predictor, [scenes[i] for i in chosen],
                                            (min(counts), max(counts)), seed=0, min_gap=gap)
    result.add("interventions", table)
    result.add("interventions_summary", interventions.summarize_interventions(table))


def _deletion(result: CellResult, context: _Context, budget: Budget) -> None:
    scores = result.examples.get("circle_scores")
    if not scores:
        raise RuntimeError("no circle attribution scores (the attribution step did not run)")
    scenes = [context.task.test_scenes[i] for i in result.examples["index"][: budget.deletion]]
    curves = interventions.deletion_curves(context.predictor, scenes, scores[: budget.deletion],
                                           max_steps=budget.deletion_steps, random_orders=2, seed=0)
    result.add("deletion", curves)


def _confounds(result: CellResult, context: _Context, budget: Budget) -> None:
    scenes = confounds.dewind_scenes(result.cell.spec, budget.dewind, seed=12345)
    predicted = context.predictor.counts(render_scenes(scenes))
    axes = confounds.scene_axes(scenes)
    table = confounds.confound_regression(np.log(np.maximum(predicted["expected_count"], 1e-6)), axes)
    accuracy = float(np.mean(predicted["pred_count"] == np.exp(axes["log_n"]).round()))
    result.add("confounds", table.assign(dewind_accuracy=accuracy))


def _baselines(result: CellResult, context: _Context) -> None:
    task, counts = context.task, np.array([int(c) for c in context.classes])
    train = np.arange(min(len(task.train_labels), 1000))
    scores = baselines.baseline_accuracy(task.train_images[train], counts[task.train_labels[train].numpy()],
                                         task.test_images, counts[task.test_labels.numpy()])
    rows = [{"counter": name, **values} for name, values in scores.items()]
    metrics = result.cell.metrics or {}
    rows.append({"counter": "network", "accuracy": metrics.get("test_accuracy"), "mae": metrics.get("count_mae"),
                 "n": metrics.get("n_test")})
    result.add("baselines", pd.DataFrame(rows).assign(counts=result.cell.spec.get("counts"),
                                                      sizes=result.cell.spec.get("sizes")))


def _probes(result: CellResult, context: _Context, budget: Budget) -> None:
    from study.models import WeightsUnavailableError, create_model

    chosen = _balanced(context.task.test_labels, budget.probe)
    inputs = context.transform(context.task.test_images[chosen].to(context.device))
    counts = np.array([int(c) for c in context.classes])[context.task.test_labels[chosen].numpy()]
    spec, classes = result.cell.spec, len(context.classes)
    tables = [probes.probe_model(context.model, inputs, counts, "trained")]
    torch.manual_seed(0)
    random_model = create_model(spec["arch"], classes, "none", spec.get("head", "fastai")).to(context.device)
    tables.append(probes.probe_model(random_model, inputs, counts, "random"))
    cached_why = _imagenet_not_cached(spec["arch"])
    if cached_why:
        _NO_IMAGENET.setdefault(spec["arch"], cached_why)
    if spec["arch"] in _NO_IMAGENET:  # tried and failed once in this process: do not wait for the network again
        result.missing.append({"what": f"ImageNet probe ({result.cell.label})", "why": _NO_IMAGENET[spec["arch"]]})
    else:
        try:
            pretrained = create_model(spec["arch"], classes, "imagenet", spec.get("head", "fastai")).to(context.device)
            tables.append(probes.probe_model(pretrained, inputs, counts, "imagenet"))
        except WeightsUnavailableError as error:
            _NO_IMAGENET[spec["arch"]] = str(error).split(";")[0]
            result.missing.append({"what": f"ImageNet probe ({result.cell.label})", "why": _NO_IMAGENET[spec["arch"]]})
    result.add("probes", pd.concat(tables, ignore_index=True))


_NO_IMAGENET: dict[str, str] = {}  # arch -> why its ImageNet weights could not be loaded


def _imagenet_not_cached(arch: str) -> str:
    """Why torchvision ImageNet weights are unavailable offline ('' if cached or not a torchvision arch).

    Checked before asking torchvision, which would otherwise try (and, offline, wait for) a download.
    """
    import torchvision

    if arch.startswith("timm:"):
        return ""
    url = torchvision.models.get_model_weights(arch).IMAGENET1K_V1.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    return "" if path.is_file() else f"ImageNet weights for {arch} are not cached ({path}) and analysis does not download them"


def _top_losses(result: CellResult, context: _Context, budget: Budget) -> None:
    predictions = result.cell.table("predictions.csv")
    split = "test" if predictions is not None and (predictions["split"] == "test").any() else "valid"
    rows = predictions[predictions["split"] == split].nlargest(budget.top_losses, "loss")
    images, _ = context.task.split(split)
    index = torch.as_tensor(rows["index"].to_numpy().copy())
    labels, preds = [str(v) for v in rows["label"]], [str(v) for v in rows["pred"]]  # class names
    target = torch.tensor([context.classes.index(name) for name in preds])
    maps = _maps(context, images[index], target, ("gradcam",), budget)
    result.top_losses = {"images": images[index], "maps": maps, "index": index, "loss": rows["loss"].to_numpy(),
                         "labels": labels, "preds": preds,
                         "prob": [float(row[f"prob_{name}"]) for name, (_, row) in zip(preds, rows.iterrows())]}


def analyse_cell(cell: CellRecord, run_dir: Path, device: torch.device, budget: Budget) -> CellResult:
    """Run every per-cell analysis that applies to ``cell``.

    Args:
        cell: a done cell with a checkpoint.
        run_dir: the run folder (its ``.cache`` holds the datasets).
        device: where models run.
        budget: how many images each analysis gets.

    Returns:
        a ``CellResult``; steps that failed are in ``missing``.
    """
    result = CellResult(cell)
    with result.step("loading the model and task"):
        context = _load(cell, run_dir, device)
    if "context" not in locals():
        return result
    with result.step("attribution and localisation"):
        _attribution_and_localisation(result, context, budget)
    with result.step("top losses"):
        _top_losses(result, context, budget)
    if not cell.is_counting:
        return result
    for what, function, arguments in (
        ("interventions", _interventions, (budget,)), ("deletion faithfulness", _deletion, (budget,)),
        ("confound regression", _confounds, (budget,)), ("baselines", _baselines, ()),
        ("linear probes", _probes, (budget,)),
    ):
        with result.step(what):
            function(result, context, *arguments)
    return result
