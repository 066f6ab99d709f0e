"""The configs the package ships, so an installed node starts anywhere (``sequencer run --dev``).

``devnet.toml`` and ``production.toml`` here are the repository's ``configs/`` files (links in a
checkout, copies in a wheel).
"""

from __future__ import annotations

from importlib.resources import files

PRESETS = ("devnet", "production")


def preset_text(name: str) -> str:
    """The TOML text of the shipped config ``name`` (one of :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
