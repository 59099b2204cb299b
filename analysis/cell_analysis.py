"""Deep analysis of one finished cell: attribution, localisation, edits, cues, probes, baselines.

Everything is bounded by a ``Budget`` so a whole sweep analyses in seconds
per cell on a CPU. Each step that fails (or cannot apply, e.g. no scenes for
a photo cell) adds a ``missing`` entry and the others go on; a damaged file
the study wrote (``DamagedFileError``) stops the analysis with its one-line
message instead, since every number after it would be wrong.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torchvision

from analysis import attribution, baselines, confounds, interventions, probes
from analysis.localization import circle_masses, localization_metrics
from analysis.predict import PixelPipeline, Predictor, load_predictor, recorded_estimates
from analysis.rundata import CellResults
from analysis.summary import collecting_failures
from study.engine.backbones import cached_weights
from study.errors import ConfigError, WeightsUnavailableError
from study.engine.models import create_model
from study.config.spec import TrainSpec
from study.data.tasks import build_task
from study.config.scenes import rendered_scene_recipe
from synth.render import circle_masks, render_scenes
from synth.scenes import DEFAULT_COLOR, Scene

__all__ = ["Budget", "BUDGETS", "CellResult", "analyse_cell", "STEPS"]


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much of each analysis one cell gets.

    Attributes:
        images: test images attributed (balanced over classes).
        interventions: scenes edited (each edit kind once per scene).
        deletion: scenes in the deletion test; deletion_steps: removals per order.
        dewind: DeWind scenes per confound regression.
        probe: test images for the linear probes.
        methods: attribution methods run (Grad-CAM and IG are always run).
        ig_steps: Integrated Gradients steps to start from; ig_max_steps: the cap;
        ig_tolerance: largest convergence gap accepted, relative to ``|f(x) - f(baseline)|``.
        baseline_images: images per test set for the non-learned counters (and their training fit).
        misclassified: highest-loss wrong test images kept for the drill-down.
    """

    images: int = 8
    interventions: int = 24
    deletion: int = 6
    deletion_steps: int = 6
    dewind: int = 200
    probe: int = 90
    methods: tuple[str, ...] = ("gradcam", "integrated_gradients", "saliency")
    ig_steps: int = 16
    ig_max_steps: int = 64
    ig_tolerance: float = 0.05
    baseline_images: int = 500
    misclassified: int = 6


BUDGETS = {
    "default": Budget(),
    "quick": Budget(images=4, interventions=12, deletion=3, deletion_steps=4, dewind=100, probe=60,
                    methods=("gradcam", "integrated_gradients"), ig_steps=8, ig_max_steps=32, baseline_images=500),
    "full": Budget(images=32, interventions=64, deletion=16, deletion_steps=10, dewind=600, probe=600,
                   methods=("gradcam", "integrated_gradients", "saliency", "smoothgrad", "occlusion"),
                   ig_steps=32, ig_max_steps=256, ig_tolerance=0.02, baseline_images=2000),
}


@dataclasses.dataclass
class CellResult:
    """What one cell's analysis produced.

    Attributes:
        tables: name -> tidy DataFrame (each with ``cell_id`` and ``label``).
        examples: images ``[E, 3, H, W]`` uint8, ``maps`` {method: ``[E, h, w]``},
            ``labels``/``preds`` ``[E]`` class names, ``index`` ``[E]`` test indices.
        edit: one counterfactual edit for the examples figure (``before``/``after`` images, counts).
        misclassified: ``{"image": uint8 [3, H, W], "true", "pred"}`` of wrong test predictions.
        notes: facts about how the measurements were made (Grad-CAM layer, IG steps).
        limitations: sentences on what this cell's measurements cannot tell (without the cell's
            label: the pipeline lists the cells each sentence applies to).
        missing: ``{"what", "why"}`` for each step that did not run.
    """

    cell: CellResults
    tables: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict)
    examples: dict[str, Any] = dataclasses.field(default_factory=dict)
    edit: dict[str, Any] | None = None
    misclassified: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    notes: dict[str, Any] = dataclasses.field(default_factory=dict)
    limitations: list[str] = dataclasses.field(default_factory=list)
    missing: list[dict[str, str]] = dataclasses.field(default_factory=list)

    def step(self, what: str) -> contextlib.AbstractContextManager[None]:
        """Run a step; an exception becomes a ``missing`` entry naming this cell (a UserError propagates)."""
        return collecting_failures(self.missing, f"{what} ({self.cell.label})")

    def add(self, name: str, table: pd.DataFrame | None) -> None:
        if table is not None and not table.empty:
            self.tables[name] = table.assign(cell_id=self.cell.cell_id, label=self.cell.label)


@dataclasses.dataclass
class _Context:
    """Loaded once per cell: model, predictor, task, the eval pipeline and the test predictions."""

    model: torch.nn.Module
    clean: torch.nn.Module
    predictor: Predictor
    transform: PixelPipeline
    task: Any
    classes: list[str]
    counts: np.ndarray
    device: torch.device
    dewind: list[Scene] | None = None
    dewind_images: torch.Tensor | None = None


def _load(cell: CellResults, cache_dir: Path | None, device: torch.device) -> _Context:
    predictor, spec, classes = load_predictor(cell.folder, cell.settings, cell.classes,
                                              cell.is_counting, device)
    task = build_task(TrainSpec.from_dict(spec), "cpu", cache_dir)
    return _Context(predictor.model, attribution.prepare_model(predictor.model, device), predictor,
                    predictor.transform, task, classes, predictor.class_counts, device)


def _balanced(labels: torch.Tensor, k: int) -> np.ndarray:
    """Up to ``k`` indices taking classes in turn (first images of each class)."""
    labels = labels.numpy()
    per_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    order = [idx[i] for i in range(max((len(p) for p in per_class), default=0)) for idx in per_class if i < len(idx)]
    return np.array(order[:k], dtype=int)


def _maps(result: CellResult, context: _Context, images: torch.Tensor, target: torch.Tensor,
          methods: tuple[str, ...], budget: Budget) -> dict[str, torch.Tensor]:
    """Attribution maps ``{method: [E, h, w]}`` (CPU) of uint8 images for the target classes.

    Grad-CAM runs on the deepest stage whose map is >= 7x7 (recorded in
    ``result.notes``) and is left out, with a note, when no stage is; IG's
    convergence is recorded there too.
    """
    inputs = context.transform(images.to(context.device))  # [E, 3, h, w]
    baseline = attribution.background_baseline(inputs.shape[2], inputs.shape[3], context.transform.normalize,
                                                (255, 255, 255), context.device)
    maps = {}
    for name in methods:
        options: dict[str, Any] = {"n_steps": budget.ig_steps, "max_steps": budget.ig_max_steps,
                                   "tolerance": budget.ig_tolerance, "internal_batch_size": 128, "nt_samples": 8}
        if name == "gradcam":
            layer = attribution.gradcam_layer(context.clean, tuple(inputs.shape[-2:]), context.device)
            if layer is None:
                result.notes["gradcam_layer"] = None
                result.limitations.append(f"Grad-CAM is uninformative at {inputs.shape[-1]} px: no stage's map is "
                                          f"at least {attribution.GRADCAM_MIN_SIDE}x{attribution.GRADCAM_MIN_SIDE}, "
                                          "so it was not drawn.")
                continue
            result.notes["gradcam_layer"] = f"{layer[0]} ({layer[2][0]}x{layer[2][1]})"
            options["layer"] = layer[1]
        method = attribution.create(name, context.clean, batch_size=len(inputs), **options)
        maps[name] = method(inputs, target.to(context.device), baseline).cpu()
        if name == "integrated_gradients":
            worst = max(method.convergence, key=lambda c: c["relative_delta"])
            result.notes["integrated_gradients"] = {**worst, "tolerance": budget.ig_tolerance}
            if worst["cap_hit"]:
                result.limitations.append(
                    f"Integrated Gradients hit its cap of {worst['n_steps']} steps before its completeness gap fell "
                    f"under {budget.ig_tolerance} of the logit change: its maps are approximate.")
    return maps


def _eval_masks(scene: Scene, policy: Any) -> torch.Tensor:
    """Per-circle masks ``[K, h, w]`` in model-input pixels (through the same eval transform)."""
    masks = circle_masks(scene)  # [K, H, W]
    if len(masks) == 0:
        return masks
    as_images = (masks * 255).round().to(torch.uint8)[:, None].expand(-1, 3, -1, -1)  # [K, 3, H, W]
    return policy.eval_transform(as_images.contiguous())[:, 0]  # [K, h, w]


def _attribution_and_localisation(result: CellResult, context: _Context, budget: Budget) -> None:
    """Maps for chosen test images, localisation per image and method, the examples figure's data."""
    test = context.task.splits["test"]
    images, labels = test.images, test.labels
    chosen = _balanced(labels, budget.images)
    predicted = context.predictor.counts(images[chosen])
    target = torch.as_tensor(predicted["pred_class"])  # explain what the model answered
    methods = tuple(dict.fromkeys(("gradcam", "integrated_gradients", *budget.methods)))
    maps = _maps(result, context, images[chosen], target, methods, budget)
    result.examples = {"images": images[chosen], "maps": maps, "index": chosen,
                       "labels": [context.classes[i] for i in labels[chosen]],
                       "preds": [context.classes[i] for i in predicted["pred_class"]]}
    scenes = test.scenes
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


def _misclassified(result: CellResult, context: _Context, budget: Budget) -> None:
    """Up to ``budget.misclassified`` wrong test predictions (predictions.csv) with their images."""
    predictions = result.cell.table(result.cell.folder.PREDICTIONS)
    if predictions is None or "split" not in predictions:
        return
    wrong = predictions[(predictions["split"] == "test") & (predictions["label"].astype(str)
                                                            != predictions["pred"].astype(str))]
    wrong = wrong.nlargest(budget.misclassified, "loss") if "loss" in wrong else wrong.head(budget.misclassified)
    images = context.task.splits["test"].images
    result.misclassified = [{"image": images[int(row["index"])], "true": str(row["label"]), "pred": str(row["pred"])}
                            for _, row in wrong.iterrows() if int(row["index"]) < len(images)]


def _interventions(result: CellResult, context: _Context, budget: Budget) -> None:
    test = context.task.splits["test"]
    scenes = test.scenes
    chosen = _balanced(test.labels, budget.interventions)
    lo, hi = int(context.counts.min()), int(context.counts.max())
    spec = TrainSpec.from_dict(result.cell.settings)
    # The cell's own gap on the images' canvas (scaled from the scene canvas when scene_size is set).
    gap = float(rendered_scene_recipe(spec).min_gap)
    table = interventions.run_interventions(context.predictor, [scenes[i] for i in chosen], (lo, hi), seed=0,
                                            min_gap=gap, trained=spec.train_counts if spec.held_out_counts else None)
    result.add("interventions", table)
    summary = interventions.summarize_interventions(table, str(result.cell.settings.get("sizes", "")))
    result.add("interventions_summary", summary)
    if summary["off_distribution"].any():
        result.limitations.append("Enlarging circles on a model trained on one radius shows it a circle size it "
                                  "never saw: its 'enlarge' consistency mixes size sensitivity with "
                                  "out-of-distribution behaviour.")
    _example_edit(result, context, scenes[int(result.examples["index"][0])] if result.examples else scenes[0], gap)


def _example_edit(result: CellResult, context: _Context, scene: Scene, gap: float) -> None:
    """One before/after edit of an example scene for the examples figure (remove, else add)."""
    lo = int(context.counts.min())
    kind = "remove" if scene.count > lo else "add"
    edited = interventions.edit_scene(scene, kind, np.random.default_rng(0), min_gap=gap)
    pair = render_scenes([scene, edited])  # [2, 3, H, W]
    predicted = context.predictor.counts(pair)["pred_count"]
    result.edit = {"kind": kind, "before": pair[0], "after": pair[1], "true_before": scene.count,
                   "true_after": edited.count, "pred_before": int(predicted[0]), "pred_after": int(predicted[1])}


def _deletion(result: CellResult, context: _Context, budget: Budget) -> None:
    scores = result.examples.get("circle_scores")
    if not scores:
        raise RuntimeError("no circle attribution scores (the attribution step did not run)")
    scenes = [context.task.splits["test"].scenes[i] for i in result.examples["index"][: budget.deletion]]
    curves = interventions.deletion_curves(context.predictor, scenes, scores[: budget.deletion],
                                           max_steps=budget.deletion_steps, random_orders=2, seed=0,
                                           floor=int(context.counts.min()))
    result.add("deletion", curves)


def _dewind_set(result: CellResult, context: _Context, budget: Budget) -> None:
    """The DeWind-controlled scenes: the task's own test_dewind split when it has one, else generated."""
    task = context.task
    if "test_dewind" in task.eval_splits:
        dewind = task.splits["test_dewind"]
        context.dewind = list(dewind.scenes)[: max(budget.dewind, budget.baseline_images)]
        context.dewind_images = dewind.images[: len(context.dewind)]
        return
    scenes = confounds.dewind_scenes(result.cell.settings, max(budget.dewind, 1), seed=12345)
    trained = set(TrainSpec.from_dict(result.cell.settings).train_counts)  # like the test_dewind split: trained counts only
    context.dewind = [scene for scene in scenes if scene.count in trained]
    context.dewind_images = render_scenes(context.dewind)


def _recorded_predictions(cell: CellResults, split: str, counts: np.ndarray) -> dict[str, np.ndarray] | None:
    """What the cell predicted for a split at the end of training (predictions.csv): no forward pass needed.

    Returns:
        ``index`` ``[N]``, ``expected_count`` ``[N]`` (``predict.recorded_estimates``: probabilities x
        counts, which for an ordinal head is its continuous expected rank; a regression head's estimate),
        ``pred_count`` ``[N]``, or None.
    """
    head = str(cell.settings.get("head", "fastai"))
    table = cell.table(cell.folder.PREDICTIONS)
    columns = [f"prob_{count}" for count in counts]
    if table is None or "split" not in table or not set(columns) <= set(table.columns):
        return None
    rows = table[table["split"] == split]
    if rows.empty:
        return None
    estimates = rows["estimate"].to_numpy(dtype=float) if "estimate" in rows else None
    expected, pred_count = recorded_estimates(head, rows[columns].to_numpy(dtype=float), counts, estimates,
                                              rows["pred"].to_numpy(dtype=int))
    return {"index": rows["index"].to_numpy(dtype=int), "expected_count": expected, "pred_count": pred_count}


def _confounds(result: CellResult, context: _Context, budget: Budget) -> None:
    """The confound regression on DeWind stimuli, and the per-image rows it was fitted on.

    Reuses the predictions recorded in predictions.csv when the engine evaluated a
    test_dewind split, instead of running the model again. The per-image rows
    (``confound_images``) let the configuration's seeds be pooled into one bSize/bN.
    """
    lo, hi = int(context.counts.min()), int(context.counts.max())
    recorded = _recorded_predictions(result.cell, "test_dewind", context.counts)
    if recorded is not None:
        keep = recorded["index"][: budget.dewind]
        scenes, predicted = [context.dewind[i] for i in keep], {k: v[: budget.dewind] for k, v in recorded.items()}
    elif context.dewind:
        scenes = context.dewind[: budget.dewind]
        predicted = context.predictor.counts(context.dewind_images[: len(scenes)])
        # No test_dewind split in predictions.csv: this set is the cell's DeWind accuracy.
        truth = np.array([scene.count for scene in scenes])
        result.notes["dewind_hits"] = [int(np.sum(predicted["pred_count"] == truth)), len(scenes)]
    else:
        return
    images = confounds.fit_images(scenes, predicted["expected_count"])
    table = confounds.confound_regression(images["log_prediction"].to_numpy(), images)
    result.add("confounds", table.assign(fit="DeWind", accuracy=float(np.mean(
        predicted["pred_count"] == np.exp(images["log_n"]).round()))))
    result.add("confound_images", images)
    result.limitations.extend(confounds.regression_caveats(images, (lo, hi)))


def _target_colour(scenes: list[Scene] | None, spec: dict[str, Any]) -> tuple[int, ...] | None:
    """The one RGB colour of the targets when distractors differ from them by colour, else None.

    Read from the scenes' per-item ``targets`` when they carry them; a cell whose
    scenes do not (an older cache) falls back to the default item colour, which
    fixed-colour targets have.
    """
    if str(spec.get("distractors", "0") or "0").strip() in ("0", "0-0") or spec.get("distractor_kind") == "shape":
        return None
    colours = set()
    for scene in scenes or []:
        targets = getattr(scene, "targets", None)
        if targets is not None:
            colours.update(tuple(int(c) for c in colour) for colour in scene.colors[np.asarray(targets, dtype=bool)])
    if len(colours) == 1:
        return colours.pop()
    return tuple(DEFAULT_COLOR) if spec.get("colour", "fixed") == "fixed" and not colours else None


def _baseline_sets(context: _Context, budget: Budget) -> list[tuple[str, torch.Tensor, np.ndarray]]:
    """(test set name, uint8 images, true counts) of every test set the counters see."""
    task, counts = context.task, context.counts
    test = task.splits["test"]
    keep = np.arange(min(len(test), budget.baseline_images))
    sets = [("i.i.d. test", test.images[keep], counts[test.labels[keep].numpy()])]
    if context.dewind:
        shown = context.dewind[: budget.baseline_images]
        sets.append(("DeWind test", context.dewind_images[: len(shown)], np.array([s.count for s in shown])))
    if "test_held_out" in task.eval_splits:
        held_out = task.splits["test_held_out"]
        keep = np.arange(min(len(held_out), budget.baseline_images))
        sets.append(("held-out counts", held_out.images[keep], counts[held_out.labels[keep].numpy()]))
    return sets


def _baselines(result: CellResult, context: _Context, budget: Budget) -> None:
    """Ink-area and connected-component counters of the targets on every test set (ink fitted once).

    Counters that cannot count this cell's targets (``baselines.unusable_baselines``)
    are not run; a limitation says why. The ink-area counter may answer every class,
    held-out counts included, as a regression head could.
    """
    task, counts, spec = context.task, context.counts, result.cell.settings
    unusable = baselines.unusable_baselines(spec)
    for name, why in unusable.items():
        result.limitations.append(f"The {name.replace('_', '-')} baseline is left out: {why}.")
    if spec.get("colour") == "random":
        result.limitations.append("Items have random colours: the ink-area and connected-component baselines read "
                                  "colour contrast as well as area (a pale item is less ink, and may fall under the "
                                  "component threshold), so they understate what a non-learned counter can do.")
    counters = [name for name in baselines.COUNTERS if name not in unusable]
    if not counters:
        return
    train = task.splits["train"]
    colour = _target_colour(train.scenes, spec)
    keep = np.arange(min(len(train), budget.baseline_images))
    train_images, train_counts = train.images[keep], counts[train.labels[keep].numpy()]
    held = "test_held_out" in task.eval_splits
    ink = baselines.InkAreaCounter(colour).fit(train_images, train_counts, classes=counts if held else None)
    rows = []
    for split, images, truth in _baseline_sets(context, budget):
        scores = baselines.baseline_accuracy(train_images, train_counts,
                                             images, truth, ink=ink, target_colour=colour, counters=counters)
        rows.extend({"split": split, "counter": name, **values} for name, values in scores.items())
    result.add("baselines", pd.DataFrame(rows))


@functools.lru_cache(maxsize=None)
def _imagenet_unavailable(arch: str) -> str:
    """Why ImageNet weights for ``arch`` cannot be used offline ('' when they are cached).

    Checked before asking torchvision, which would otherwise try (and, offline, wait for) a download.
    Cached per process: the answer does not change between cells.
    """
    if arch.startswith("timm:"):
        cached = cached_weights(arch[5:])
        return "" if cached else (f"ImageNet weights for {arch} are not in the Hugging Face cache and analysis "
                                  "does not download them")
    url = torchvision.models.get_model_weights(arch).IMAGENET1K_V1.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    return "" if path.is_file() else f"ImageNet weights for {arch} are not cached ({path}) and analysis does not download them"


def _probes(result: CellResult, context: _Context, budget: Budget) -> None:
    test = context.task.splits["test"]
    chosen = _balanced(test.labels, budget.probe)
    inputs = context.transform(test.images[chosen].to(context.device))
    counts = context.counts[test.labels[chosen].numpy()]
    spec, classes = result.cell.settings, len(context.classes)
    tables = [probes.probe_model(context.model, inputs, counts, "trained")]
    # A local generator, not torch.manual_seed: the caller's global RNG stays as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        random_model = create_model(spec["arch"], classes, "none", spec.get("head", "fastai"),
                                    image_size=int(spec.get("size", 224))).to(context.device)
    tables.append(probes.probe_model(random_model, inputs, counts, "random"))
    why = _imagenet_unavailable(spec["arch"])
    if not why:
        try:
            pretrained = create_model(spec["arch"], classes, "imagenet", spec.get("head", "fastai"),
                                      image_size=int(spec.get("size", 224))).to(context.device)
            tables.append(probes.probe_model(pretrained, inputs, counts, "imagenet"))
        except (WeightsUnavailableError, ConfigError) as error:  # ConfigError: timm has no weights (at this size)
            why = str(error).split(";")[0]
    if why:
        result.missing.append({"what": f"ImageNet probe ({result.cell.label})", "why": why})
    result.add("probes", pd.concat(tables, ignore_index=True))


# (name, function(result, context, budget)) in run order; counting-only steps after the first.
STEPS: tuple[tuple[str, Callable[[CellResult, _Context, Budget], None]], ...] = (
    ("attribution", _attribution_and_localisation),
    ("misclassified", _misclassified),
    ("interventions", _interventions),
    ("deletion", _deletion),
    ("DeWind set", _dewind_set),
    ("confounds", _confounds),
    ("baselines", _baselines),
    ("probes", _probes),
)


def analyse_cell(cell: CellResults, cache_dir: Path | None, device: torch.device, budget: Budget,
                 on_step: Callable[[str], None] | None = None) -> CellResult:
    """Run every per-cell analysis that applies to ``cell``.

    Args:
        cell: a done cell with a checkpoint.
        cache_dir: the run's dataset cache (None: rebuild the data).
        device: where models run.
        budget: how many images each analysis gets.
        on_step: called with each step's name before it runs (progress display).

    Returns:
        a ``CellResult``; steps that failed are in ``missing``.

    Raises:
        UserError: a damaged checkpoint (``DamagedFileError``, naming the file).
    """
    result = CellResult(cell)
    context, started = None, time.perf_counter()
    with result.step("loading the model and task"):
        context = _load(cell, cache_dir, device)
    result.notes["seconds"] = {"load": round(time.perf_counter() - started, 2)}
    if context is None:
        return result
    steps = STEPS if cell.is_counting else STEPS[:2]
    seconds = result.notes["seconds"]
    for name, function in steps:
        if on_step:
            on_step(name)
        started = time.perf_counter()
        with result.step(name):
            function(result, context, budget)
        seconds[name] = round(time.perf_counter() - started, 2)
    return result
