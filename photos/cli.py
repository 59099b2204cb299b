"""``python -m photos fetch|verify``: the command line over ``photos.fetch`` and ``photos.verify``."""

from __future__ import annotations

import argparse

from kit.cli import ArgumentParser, report_error, report_interrupt
from photos.errors import PhotosError, check_number

__all__ = ["main", "build_parser"]


def _number(flag: str, cast: type = float):
    """An argparse type: ``cast`` the text, then check it against the flag's range (``OPTION_RANGES``).

    Checked here, where it is parsed, so NaN, infinities and absurd sizes
    never reach a socket, an allocation or the manifest.
    """

    def parse(text: str):
        from photos.fetch import OPTION_RANGES

        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole number' if cast is int else 'a number'}") from None
        try:
            check_number(flag, value, **OPTION_RANGES[flag])
        except PhotosError as error:  # argparse already says "argument --timeout: "
            raise argparse.ArgumentTypeError(str(error).removeprefix(f"{flag} ")) from None
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m photos",
        description="Build an image-classification folder from URL lists and clean it (see docs/PHOTOS.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{fetch,verify}")
    fetch = commands.add_parser("fetch", help="download a URL list into a class folder, then verify it")
    fetch.add_argument("urls", help="text file, one URL per line; blank lines and '#' lines are ignored")
    fetch.add_argument("--out", required=True, help="class folder to fill, e.g. data/kittencat/cat")
    fetch.add_argument("--workers", type=_number("--workers", int), default=8,
                       help="parallel requests, 1-64 (default 8)")
    fetch.add_argument("--timeout", type=_number("--timeout"), default=10.0,
                       help="seconds a connection may stall, > 0 and <= 3600 (default 10)")
    fetch.add_argument("--max-time", type=_number("--max-time"), default=None,
                       help="seconds one try may take in all, whatever the server does (default 6 x --timeout)")
    fetch.add_argument("--retries", type=_number("--retries", int), default=3,
                       help="extra tries after a timeout, connection error or HTTP 5xx/408/429, 0-100 (default 3)")
    fetch.add_argument("--backoff", type=_number("--backoff"), default=1.0,
                       help="first retry delay in seconds, doubling, 0-60 (default 1)")
    fetch.add_argument("--max-mb", type=_number("--max-mb"), default=20.0,
                       help="size cap per file in MB, > 0 and <= 1024 (default 20)")
    fetch.add_argument("--min-size", type=_number("--min-size", int), default=64,
                       help="verify: smallest shorter side in pixels, 1-16384 (default 64)")
    fetch.add_argument("--no-verify", action="store_true", help="download only; run verify later")
    fetch.add_argument("--retry-failed", action="store_true",
                       help="also retry URLs that failed for good before (4xx, too large, not an image)")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    verify = commands.add_parser("verify", help="decode, convert to RGB and quarantine bad/small/duplicate images")
    verify.add_argument("folder", help="a class folder, or a task folder with one sub-folder per class")
    verify.add_argument("--min-size", type=_number("--min-size", int), default=64,
                        help="smallest shorter side in pixels, 1-16384 (default 64)")
    verify.add_argument("--dry-run", action="store_true", help="change nothing; list what would be done")
    verify.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _run(args: argparse.Namespace) -> str:
    if args.command == "verify":
        from photos.verify import verify_folder

        return verify_folder(args.folder, min_size=args.min_size, dry_run=args.dry_run, quiet=args.quiet).text()
    from photos.fetch import FetchOptions, fetch_urls

    options = FetchOptions(
        workers=args.workers, timeout=args.timeout, max_time=args.max_time, retries=args.retries,
        backoff=args.backoff, max_bytes=int(args.max_mb * 2**20), min_size=args.min_size, verify=not args.no_verify,
        retry_failed=args.retry_failed, quiet=args.quiet,
    )
    return fetch_urls(args.urls, args.out, options).text()


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Returns:
        0 on success, 2 on bad input (one line on stderr), 130 on Ctrl-C.
    """
    args = build_parser().parse_args(argv)
    try:
        print(_run(args))
    except PhotosError as error:
        return report_error(error)
    except KeyboardInterrupt:
        return report_interrupt("the manifest is saved; run the same command to resume")
    return 0
