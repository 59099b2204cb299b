"""Renderer throughput: our batched torch renderer vs matplotlib, same scenes, one run.

``python -m study.bench synth`` (or ``python -m synth.bench``) prints images/s
for each renderer and their ratio, for 1-5 and 45-50 circles at 224 px, on
one CPU core (``torch.set_num_threads(1)``; matplotlib is single-threaded)
and on CUDA when available. Scene sampling is excluded from both: they
render the very same scenes. ``--shape circle square triangle mixed``
adds rows per item shape (each at its own auto radius, so scenes of every
shape pack alike), to compare shape rendering against circles.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable, Sequence

import torch

from kit.cli import ArgumentParser
from synth.render import render_scenes, render_scenes_matplotlib
from synth.sampling import sample_scenes
from synth.scenes import SceneRecipe, auto_radius, parse_range

__all__ = ["main", "benchmark_renderers"]


def _images_per_second(render: Callable[[], torch.Tensor], images: int, repeats: int, sync: Callable[[], None]) -> float:
    """Best of ``repeats`` timed calls (after one warm-up), in images/s."""
    render()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        render()
        sync()
        best = min(best, time.perf_counter() - start)
    return images / best


def benchmark_renderers(
    size: int = 224, count_ranges: Sequence[str] = ("1-5", "45-50"), n: int = 2000, n_matplotlib: int = 100,
    devices: Sequence[str] = ("cpu",), repeats: int = 3, shapes: Sequence[str] = ("circle",),
    distractors: tuple[int, int] = (0, 0), overlap: bool = False,
) -> list[dict]:
    """Rows of ``{counts, shape, size, device, fast_ips, matplotlib_ips, ratio}``, one per shape, count range and device.

    ``distractors`` (colour distractors per scene) and ``overlap`` are passed to every ``SceneRecipe``.
    """
    rows = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # per-core comparison: matplotlib draws on one core
    try:
        for shape, counts in ((shape, counts) for shape in shapes for counts in count_ranges):
            lo, hi = (int(v) for v in counts.split("-"))
            recipe = SceneRecipe(counts=(lo, hi), width=size, height=size, shape=shape, distractors=distractors, overlap=overlap)
            radius = auto_radius(size, size, recipe.max_items, extent_factor=recipe.extent_factor)
            recipe = dataclasses.replace(recipe, radius=radius)
            scenes = sample_scenes(recipe, n, seed=0)
            matplotlib_ips = _images_per_second(
                lambda: render_scenes_matplotlib(scenes[:n_matplotlib]), n_matplotlib, 1, lambda: None
            )
            for device in devices:
                sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
                batch = scenes if device == "cpu" else scenes * 10  # give the GPU a batch worth its time
                fast_ips = _images_per_second(lambda: render_scenes(batch, device=device), len(batch), repeats, sync)
                rows.append({
                    "counts": counts, "shape": shape, "size": size, "device": device, "fast_ips": fast_ips,
                    "matplotlib_ips": matplotlib_ips, "ratio": fast_ips / matplotlib_ips,
                })
    finally:
        torch.set_num_threads(threads)
    return rows


def _distractor_range(text: str) -> tuple[int, int]:
    try:
        return parse_range(text, "--distractors", minimum=0)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--distractors: ")) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m study.bench synth", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--counts", nargs="+", default=["1-5", "45-50"])
    parser.add_argument("--n", type=int, default=2000, help="scenes rendered by ours per timing (2000)")
    parser.add_argument("--n-matplotlib", type=int, default=100, help="scenes rendered by matplotlib (100)")
    parser.add_argument("--device", nargs="+", default=None, help="devices for ours (default: cpu, and cuda if present)")
    parser.add_argument("--shape", nargs="+", default=["circle"], choices=SceneRecipe.SHAPE_CHOICES,
                        help="item shapes to time (circle)")
    parser.add_argument("--distractors", type=_distractor_range, default=(0, 0),
                        help="colour distractors per scene, lo-hi (0)")
    parser.add_argument("--overlap", action="store_true", help="items may overlap (drawn in order)")
    args = parser.parse_args(argv)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    rows = benchmark_renderers(args.size, args.counts, args.n, args.n_matplotlib, devices, shapes=args.shape,
                               distractors=args.distractors, overlap=args.overlap)
    print(f"{'shape':>8} {'counts':>7} {'size':>5} {'device':>7} {'ours img/s':>12} {'matplotlib img/s':>17} {'ratio':>8}")
    for row in rows:
        print(
            f"{row['shape']:>8} {row['counts']:>7} {row['size']:>5} {row['device']:>7} {row['fast_ips']:>12,.0f} "
            f"{row['matplotlib_ips']:>17,.1f} {row['ratio']:>7.1f}x"
        )
    print("one CPU thread for both on cpu rows; matplotlib always on one CPU core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
