"""``python -m synth``: generate a counting image folder (circles, squares, triangles, with or without distractors)."""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from kit.cli import ArgumentParser, report_error, report_interrupt
from kit.progress import progress_bar
from synth.folder import check_out_path, write_folder
from synth.render import RENDERERS
from synth.sampling import sample_scenes
from synth.scenes import InfeasibleSceneError, SceneRecipe, auto_gap, auto_radius, parse_range

__all__ = ["main", "build_parser"]

# Upper bounds that keep absurd values from reaching the sampler and the renderer (a 10^5 px side
# asks for a 30 GB batch, 10^11 images for a 745 GiB array); far above any study's setting.
MAX_IMAGES = 1_000_000
MAX_SIDE_PX = 4096
MAX_ITEMS = 1000  # targets (or distractors) per scene: packing 10^5 items runs for many minutes before failing
MAX_SEED = 2**63 - 1



def _range_arg(name: str, cast, minimum: float | None):
    def parse(text: str):
        try:
            return parse_range(text, name, cast, minimum)
        except ValueError as error:  # argparse already says "argument --counts: "
            raise argparse.ArgumentTypeError(str(error).removeprefix(f"{name}: ")) from None

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m synth",
        description="Render images of N targets into DIR/<count>/<index>.png with metadata.csv and scenes.jsonl.",
    )
    parser.add_argument("--counts", type=_range_arg("--counts", int, 1), default=(1, 5),
                        help=f"count range lo-hi, within 1-{MAX_ITEMS} (1-5)")
    parser.add_argument("--n", type=int, default=2500, help=f"number of images, 1-{MAX_IMAGES} (2500)")
    parser.add_argument("--size", type=int, default=224, help=f"image height in px, 4-{MAX_SIDE_PX} (224)")
    parser.add_argument("--aspect", type=float, default=1.0, help="width / height; the post's figures were 4:3 (1.0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed, 0 to 2**63-1 (0)")
    parser.add_argument("--out", required=True, help="output folder")
    radius = parser.add_mutually_exclusive_group()
    radius.add_argument("--radius", type=float, help="fixed radius in px (default: 4%% of the size, capped)")
    radius.add_argument("--radius-range", type=_range_arg("--radius-range", float, None), help="radii drawn from A-B px")
    parser.add_argument("--min-gap", type=float, help="min edge-to-edge gap in px (default: size/64, >= 1)")
    parser.add_argument("--margin", type=float, default=1.0, help="min gap to the border in px (1)")
    parser.add_argument("--control", choices=SceneRecipe.CONTROLS, default="none", help="numerosity control")
    parser.add_argument("--shape", choices=SceneRecipe.SHAPE_CHOICES, default="circle",
                        help="target shape, equal area at equal radius; mixed = each item's shape at random (circle)")
    parser.add_argument("--colour", choices=SceneRecipe.COLOUR_CHOICES, default="fixed",
                        help="one colour for every target, or a random hue per item (fixed)")
    parser.add_argument("--distractors", type=_range_arg("--distractors", int, 0), default=(0, 0),
                        help="uncounted items per scene, lo-hi (0)")
    parser.add_argument("--distractor-kind", choices=SceneRecipe.DISTRACTOR_KINDS, default="colour",
                        help="distractors differ from targets by colour (orange) or by shape (colour)")
    parser.add_argument("--overlap", action="store_true", help="items may overlap; later items drawn on top")
    parser.add_argument("--renderer", choices=RENDERERS, default="fast")
    parser.add_argument("--device", default="cpu", help="torch device for the fast renderer (cpu, cuda)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def recipe_from_args(args: argparse.Namespace) -> SceneRecipe:
    """The SceneRecipe the flags describe (auto radius and gap filled in).

    The auto radius packs the largest scene (targets plus distractors) by the
    extent radius of the widest shape drawn.

    Raises:
        ValueError: a combination of stimulus flags that cannot be drawn.
    """
    width = round(args.size * args.aspect)
    gap = auto_gap(args.size) if args.min_gap is None else args.min_gap
    recipe = SceneRecipe(
        counts=args.counts,
        width=width,
        height=args.size,
        radius=args.radius if args.radius is not None else 1.0,
        radius_range=args.radius_range,
        min_gap=gap,
        margin=args.margin,
        control=args.control,
        shape=args.shape,
        colour=args.colour,
        distractors=args.distractors,
        distractor_kind=args.distractor_kind,
        overlap=args.overlap,
    )
    if args.radius is None:
        radius = auto_radius(width, args.size, recipe.max_items, gap, recipe.extent_factor)
        recipe = dataclasses.replace(recipe, radius=radius)
    return recipe


def _check_numbers(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors for numbers argparse's types cannot judge alone (exits 2 with one line).

    Each message names the flag, the bad value and the valid range. Lengths
    in px (radius, gap, margin) may not exceed the longer image side: no
    item or gap that large fits on the canvas, and an astronomically large
    one overflows the packing arithmetic.
    """
    if not 1 <= args.n <= MAX_IMAGES:
        parser.error(f"--n: expected 1 to {MAX_IMAGES} images, got {args.n}")
    if not 4 <= args.size <= MAX_SIDE_PX:
        parser.error(f"--size: expected 4 to {MAX_SIDE_PX} px, got {args.size}")
    if not (math.isfinite(args.aspect) and args.aspect > 0) or not 4 <= round(args.size * args.aspect) <= MAX_SIDE_PX:
        parser.error(f"--aspect: expected a width / height giving a width of 4 to {MAX_SIDE_PX} px at --size "
                     f"{args.size}, got {args.aspect:g}")
    for flag, (low, high), smallest in (("--counts", args.counts, 1), ("--distractors", args.distractors, 0)):
        if high > MAX_ITEMS:
            parser.error(f"{flag}: expected {smallest} to {MAX_ITEMS} items per scene, got {low}-{high}")
    if not 0 <= args.seed <= MAX_SEED:
        parser.error(f"--seed: expected an integer from 0 to 2**63-1, got {args.seed}")
    side = max(args.size, round(args.size * args.aspect))
    if args.radius is not None and not (math.isfinite(args.radius) and 0 < args.radius <= side):
        parser.error(f"--radius: expected a radius > 0 and <= {side} px (the longer image side), got {args.radius:g}")
    if args.radius_range is not None:
        low, high = args.radius_range
        if not (math.isfinite(high) and low > 0 and high <= side):
            parser.error(f"--radius-range: expected radii > 0 and <= {side} px (the longer image side), "
                         f"got {low:g}-{high:g}")
    for flag, value in (("--min-gap", args.min_gap), ("--margin", args.margin)):
        if value is not None and not (math.isfinite(value) and 0 <= value <= side):
            parser.error(f"{flag}: expected a distance from 0 to {side} px (the longer image side), got {value:g}")


def _check_device(parser: argparse.ArgumentParser, device: str) -> None:
    """A usage error for a device torch does not know or this machine does not have (exits 2 with one line)."""
    try:
        parsed = torch.device(device)
    except RuntimeError:
        parser.error(f"--device: unknown device {device!r}; valid: cpu, cuda, cuda:N, mps")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            parser.error(f"--device {device}: no CUDA GPU is usable on this machine; use --device cpu")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            parser.error(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                         f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        parser.error(f"--device {device}: MPS (Apple GPU) is not usable on this machine; use --device cpu")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        parser.error(f"--device {device}: the renderer runs on cpu, cuda or mps")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (argparse usage errors exit 2 themselves)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_numbers(parser, args)
    _check_device(parser, args.device)
    try:
        check_out_path(Path(args.out), args.overwrite)  # before minutes of sampling, not after
        recipe = recipe_from_args(args)
        with progress_bar(args.n, "sampling", "img", "quiet" if args.quiet else "auto") as bar:
            scenes = sample_scenes(recipe, args.n, args.seed, progress=bar.update)
        out = write_folder(args.out, scenes, args.renderer, args.device, args.overwrite, progress=not args.quiet)
    except (InfeasibleSceneError, ValueError) as error:
        return report_error(error)
    except OSError as error:  # FolderExistsError, OutputPathError and what the OS refuses
        return report_error(_describe_os_error(args.out, error))
    except KeyboardInterrupt:  # write_folder has already removed its partial output
        return report_interrupt(f"nothing written to {args.out}")
    print(f"wrote {len(scenes)} images of {recipe.describe()} to {out}")
    return 0


def _describe_os_error(out: str, error: OSError) -> str:
    """One line naming ``--out`` and what went wrong there."""
    if error.strerror is None:  # our own errors already name --out
        return str(error)
    where = f" ({error.filename})" if error.filename and str(error.filename) != str(out) else ""
    return f"--out {out}: cannot write the folder there: {error.strerror}{where}"
