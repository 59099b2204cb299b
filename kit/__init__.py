"""The shared layer below every package: what synth, study, analysis, reports and photos all need.

Nothing here imports synth, study, analysis, reports, photos or pipeline, nor
torch or a plotting library, so any layer can use it (docs/ARCHITECTURE.md).
One module per concern:

- ``kit.records``: the typed definition of every file the kit writes.
- ``kit.images``: image files -> 8-bit RGB pixels, the decoding rules of the folder task and ``photos verify``.
- ``kit.formatting``: how numbers, durations, intervals and the CI sentence read, everywhere.
- ``kit.intervals``: the one confidence interval of an accuracy (t over seeds, else Wilson over images).
- ``kit.seeds``: ``derive_seed(seed, purpose)``, every derived seed by a named purpose.
- ``kit.errors``: the shared exception types (``UserError``, ``ConfigError``, ``DiskFullError``).
- ``kit.store``: atomic file writes (temp file + fsync + rename) and tolerant JSON reads.
- ``kit.progress``: the progress modes (auto, bar, lines, quiet) and the bar and line writers.
- ``kit.cli``: one-line errors, exit statuses, Ctrl-C and SIGTERM for every command line.
"""
