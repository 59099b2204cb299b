"""Configuration: what a cell and a sweep are (specs, sweep files, coercion, schedules, known names, scene
geometry, labels).

Never imports torch or the engine: reading, checking and expanding a sweep stays cheap.
"""
