"""Shared test setup for the study package."""

from __future__ import annotations


def pytest_configure(config) -> None:
    # Registered here because pyproject.toml is not ours to edit; the Ray test
    # runs in the default suite and can be deselected with -m "not ray".
    config.addinivalue_line("markers", "ray: starts a real local Ray instance (deselect with -m 'not ray')")
