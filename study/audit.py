"""``python -m study.audit``: how often each augmentation policy changes the count an image shows.

For every count range x canvas aspect x policy, draws augmented samples of
freshly sampled scenes and reports the fraction that no longer show exactly
``label`` whole circles (a circle cut by the frame, a circle pushed out, or
a mirror image pulled in by reflection padding). This is the measurement
behind the follow-up post's explanation of the 45-50 failure; the same
number is recorded per cell as ``label_noise_rate``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from kit.cli import ArgumentParser, report_error
from study.data import augment
from study.config.spec import TrainSpec
from study.config.scenes import scene_recipe
from synth.sampling import sample_scenes
from synth.scenes import parse_range

__all__ = ["audit_table", "main"]


def audit_table(
    count_ranges: Sequence[str],
    aspects: Sequence[float],
    policies: Sequence[str],
    size: int = 224,
    scenes_per_range: int = 500,
    samples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (counts, aspect, policy): label_noise_rate, clipped_rate, miscount_rate, samples.

    Raises:
        ValueError: a bad count range; ConfigError (a ValueError) when its circles cannot be packed.
    """
    rows = []
    for counts in count_ranges:
        lo, hi = parse_range(counts, "--counts")
        for aspect in aspects:
            # Exactly the scenes a counting cell of this range, size and aspect trains on.
            recipe = scene_recipe(TrainSpec(counts=f"{lo}-{hi}", size=size, aspect=aspect, n_test_dewind=0))
            scenes = sample_scenes(recipe, scenes_per_range, seed=seed)
            for name in policies:
                audit = augment.count_audit(augment.create(name, size=size), scenes, samples=samples, seed=seed)
                rows.append({
                    "counts": f"{lo}-{hi}", "aspect": round(aspect, 3), "policy": name,
                    "label_noise_rate": audit["label_noise_rate"], "clipped_rate": audit["clipped_rate"],
                    "miscount_rate": audit["miscount_rate"], "samples": audit["samples"],
                })
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m study.audit", description=__doc__.splitlines()[0])
    parser.add_argument("--counts", nargs="+", default=["1-5", "45-50"], help="count ranges (1-5 45-50)")
    parser.add_argument("--aspect", nargs="+", type=float, default=[1.0, 4 / 3],
                        help="canvas width/height; the post's figures were 4:3 (1 1.333)")
    parser.add_argument("--policy", nargs="+", default=augment.available(), choices=augment.available())
    parser.add_argument("--size", type=int, default=224, help="image size in px (224)")
    parser.add_argument("--samples", type=int, default=2000, help="augmented samples per row (2000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        table = audit_table(args.counts, args.aspect, args.policy, args.size, samples=args.samples, seed=args.seed)
    except ValueError as error:  # bad range, infeasible packing: one line, no traceback
        return report_error(error)
    print(table.to_string(index=False, float_format=lambda value: f"{value:.3f}"))
    print(f"label_noise_rate: fraction of {args.samples} augmented samples that no longer show exactly "
          "`label` whole circles (clipped or miscounted)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
