"""Compiled test contracts (``tests/fixtures/contracts``, built by ``contracts/build.sh``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parent.parent / "fixtures" / "contracts"


def load_artifact(name: str) -> dict[str, Any]:
    """A compiled contract: its ABI and bytecode."""
    data: dict[str, Any] = json.loads((ARTIFACTS / f"{name}.json").read_text())
    return data
