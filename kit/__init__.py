"""The shared layer below every package: what synth, study, analysis, reports and photos all need.

Nothing here imports another package of the kit, torch or a plotting library,
so any layer can use it. One module per concern:

- ``kit.records``: the typed definition of every file the kit writes.
- ``kit.errors``: the shared exception types (``UserError``, ``ConfigError``, ``DiskFullError``).
- ``kit.store``: atomic file writes (temp file + fsync + rename) and tolerant JSON reads.
- ``kit.progress``: the progress modes (auto, bar, lines, quiet) and the bar and line writers.
- ``kit.cli``: one-line errors, exit statuses, Ctrl-C and SIGTERM for every command line.
"""
