"""Configuration: what a cell and a sweep are (specs, sweep files, coercion, schedules, labels).

Never imports torch or the engine: reading, checking and expanding a sweep stays cheap.
"""
