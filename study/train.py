"""Train one cell from the command line (``python -m study.train``).

Examples::

    python -m study.train --task counting --counts 1-5 --aug fastai --arch resnet34 \\
        --weights imagenet --size 224 --n-train 2500 --epochs 5 --out runs/one
    python -m study.train --task folder --data data/kittencat --epochs 5 --out runs/cats

Prints the epoch table and writes a cell folder (``docs/RUN_FOLDER.md``).
Configuration, data and weights problems print one ``error: ...`` line and
exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from study import augment
from study.errors import ConfigError, WeightsUnavailableError
from study.models import ARCHITECTURES
from study.spec import TrainSpec

__all__ = ["main", "build_parser", "spec_from_args"]

_DEFAULTS = TrainSpec()


def _arch(text: str) -> str:
    if text in ARCHITECTURES or (text.startswith("timm:") and len(text) > 5):
        return text
    raise argparse.ArgumentTypeError(f"unknown {text!r}; valid: {', '.join(ARCHITECTURES)}, timm:<name>")


def _lr(text: str) -> float | str:
    if text == "find":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'find', got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'find', got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m study.train", description="Train and evaluate one cell.")
    task = parser.add_argument_group("task")
    task.add_argument("--task", choices=["counting", "folder"], default=_DEFAULTS.task)
    task.add_argument("--counts", default=_DEFAULTS.counts, help="counting: class range lo-hi (default 1-5)")
    task.add_argument("--sizes", choices=["fixed", "varied", "dewind"], default=_DEFAULTS.sizes)
    task.add_argument("--radius", type=float, default=_DEFAULTS.radius, help="circle radius px; 0 = auto")
    task.add_argument("--min-gap", type=float, default=_DEFAULTS.min_gap, help="px between circles; 0 = auto")
    task.add_argument("--aspect", type=float, default=_DEFAULTS.aspect, help="canvas width / height")
    task.add_argument("--n-train", type=int, default=_DEFAULTS.n_train, help="images split into train/valid")
    task.add_argument("--n-test", type=int, default=_DEFAULTS.n_test)
    task.add_argument("--data", default="", help="folder: root with one sub-folder per class")
    task.add_argument("--resize", choices=["crop", "squish", "pad"], default=_DEFAULTS.resize)
    task.add_argument("--valid-pct", type=float, default=_DEFAULTS.valid_pct)
    model = parser.add_argument_group("model")
    model.add_argument("--arch", type=_arch, default=_DEFAULTS.arch, help=f"{', '.join(ARCHITECTURES)} or timm:<name>")
    model.add_argument("--weights", default=_DEFAULTS.weights, help="imagenet, none, or a state dict path")
    model.add_argument("--head", choices=["fastai", "linear"], default=_DEFAULTS.head)
    recipe = parser.add_argument_group("recipe")
    recipe.add_argument("--aug", choices=augment.available(), default=_DEFAULTS.aug)
    recipe.add_argument("--size", type=int, default=_DEFAULTS.size)
    recipe.add_argument("--epochs", type=int, default=_DEFAULTS.epochs)
    recipe.add_argument("--lr", type=_lr, default=_DEFAULTS.lr, help="max lr of the one cycle, or 'find'")
    recipe.add_argument("--lr-find", action="store_true", help="same as --lr find")
    recipe.add_argument("--freeze", choices=["auto", "yes", "no"], default=_DEFAULTS.freeze)
    recipe.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size)
    recipe.add_argument("--weight-decay", type=float, default=_DEFAULTS.weight_decay)
    recipe.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    recipe.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA only)")
    run = parser.add_argument_group("run")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    run.add_argument("--out", type=Path, help="cell folder (default runs/train/<cell id>)")
    run.add_argument("--cache-dir", type=Path, help="dataset cache folder (default: no cache)")
    run.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    return parser


def spec_from_args(args: argparse.Namespace) -> TrainSpec:
    """The ``TrainSpec`` the flags describe. Raises ``ConfigError``."""
    return TrainSpec(
        task=args.task, counts=args.counts, sizes=args.sizes, radius=args.radius, min_gap=args.min_gap,
        aspect=args.aspect, n_train=args.n_train, n_test=args.n_test, data=args.data, resize=args.resize,
        valid_pct=args.valid_pct, arch=args.arch, weights=args.weights, head=args.head, aug=args.aug,
        size=args.size, epochs=args.epochs, lr="find" if args.lr_find else args.lr, freeze=args.freeze,
        batch_size=args.batch_size, weight_decay=args.weight_decay, seed=args.seed, compile=args.compile,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run one cell, report. Returns the exit status (2 on a user error)."""
    from study.errors import DataError, NonFiniteLossError

    args = build_parser().parse_args(argv)
    user_errors = (ConfigError, DataError, WeightsUnavailableError, NonFiniteLossError, ValueError,
                   FileNotFoundError, NotImplementedError)
    try:
        spec = spec_from_args(args)
        out = args.out or Path("runs") / "train" / spec.cell_id()
        from study.cell import run_cell
        from study.tasks import resolve_device

        resolve_device(args.device)  # fail before any data work
        progress = False if args.no_progress else None
        metrics = run_cell(spec, out, device=args.device, cache_dir=args.cache_dir, progress=progress)
    except user_errors as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        if "CUDA is not available" in str(error):
            print(f"error: {error}", file=sys.stderr)
            return 2
        raise
    print(f"wrote {out} (valid accuracy {metrics['valid_accuracy']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
