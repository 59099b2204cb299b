"""Photo datasets from URL lists: download, check and clean image folders.

The post's photo tasks (impressionist vs modernist paintings, cats vs
kittens) were built from one URL list per class, downloaded into a class
folder and cleaned with fastai's ``verify_images``. This package does the
same with the standard library and PIL:

- ``photos.fetch``: parallel, retrying, resumable downloads into a folder,
  recorded in ``_manifest.csv``.
- ``photos.verify``: decode every image, convert to RGB, and move
  undecodable, too-small and duplicate files to ``_quarantine/<reason>/``
  (never deleting), recorded in ``_verify.csv``.

Command line: ``python -m photos fetch URLS.txt --out DIR`` and
``python -m photos verify DIR``; see ``docs/PHOTOS.md``.
"""

from photos.errors import PhotosError
from photos.fetch import FetchOptions, FetchSummary, fetch_urls
from photos.urls import UrlEntry, read_url_list
from photos.verify import QUARANTINE_DIR, VerifySummary, verify_folder

__all__ = [
    "PhotosError",
    "FetchOptions",
    "FetchSummary",
    "fetch_urls",
    "UrlEntry",
    "read_url_list",
    "QUARANTINE_DIR",
    "VerifySummary",
    "verify_folder",
]
