"""The L1 contracts' compiled artifacts (package data built by ``contracts/build.sh``) and their events.

``SystemConfig``, ``L2OutputOracle`` and ``OptimismPortal`` (``contracts/src/l1/``); each artifact
holds the ABI, the creation bytecode and the runtime bytecode.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from eth_hash.auto import keccak

SYSTEM_CONFIG = "SystemConfig"
L2_OUTPUT_ORACLE = "L2OutputOracle"
OPTIMISM_PORTAL = "OptimismPortal"

OUTPUT_PROPOSED_TOPIC = bytes(keccak(b"OutputProposed(bytes32,uint256,uint256,uint256)"))
"""``OutputProposed(outputRoot indexed, l2OutputIndex indexed, l2BlockNumber indexed, l1Timestamp)``."""
OUTPUTS_DELETED_TOPIC = bytes(keccak(b"OutputsDeleted(uint256,uint256)"))
"""``OutputsDeleted(prevNextOutputIndex indexed, newNextOutputIndex indexed)``."""
CONFIG_UPDATE_TOPIC = bytes(keccak(b"ConfigUpdate(uint256,uint8,bytes)"))
"""``ConfigUpdate(version indexed, updateType indexed, data)``; update type 0 is the batcher."""
UPDATE_BATCHER = 0


@cache
def artifact(name: str) -> dict[str, Any]:
    """A compiled L1 contract: ``abi``, ``bytecode``, ``deployedBytecode``..."""
    text = resources.files("sequencer.settlement").joinpath("artifacts", f"{name}.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def abi(name: str) -> list[dict[str, Any]]:
    """The ABI of an L1 contract."""
    value: list[dict[str, Any]] = artifact(name)["abi"]
    return value
