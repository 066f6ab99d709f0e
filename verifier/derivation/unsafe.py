"""The sequencer's unsafe blocks against what L1 later says (``verifier run --derive --feed``).

The feed announces every EVM block (``block`` messages: number and hash) as soon as it is
sealed, long before its batch is on L1. :class:`UnsafeBlocks` remembers those claims (the newest
:data:`KEEP` of them) and compares each with the block derived from L1 at that height, whichever
comes first: a difference means the sequencer showed its users another chain than the one it
posted (a verdict ``unsafe.blockHash``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

KEEP = 100_000


@dataclass(frozen=True, slots=True)
class Claim:
    """A block the feed announced."""

    number: int
    hash: bytes
    seq: int


class UnsafeBlocks:
    """Feed claims by block number, and how many were compared with derived blocks."""

    def __init__(self) -> None:
        self.next_seq = 0
        """The feed position to follow from (the whole history, each run)."""
        self.newest = -1
        self.checked = 0
        self._claims: OrderedDict[int, Claim] = OrderedDict()

    def on_message(self, message: dict[str, Any]) -> Claim | None:
        """Take one feed message; the claim it makes, for a ``block`` message."""
        seq = message.get("seq")
        if isinstance(seq, int):
            self.next_seq = seq + 1
        if message.get("type") != "block":
            return None
        block = message["block"]
        claim = Claim(int(block["number"], 16), bytes.fromhex(block["hash"][2:]), int(seq or 0))
        self._claims[claim.number] = claim
        self.newest = max(self.newest, claim.number)
        while len(self._claims) > KEEP:
            self._claims.popitem(last=False)
        return claim

    def claim(self, number: int) -> Claim | None:
        """What the feed announced at ``number``, if it did (and it is still remembered)."""
        return self._claims.get(number)

    def compared(self, claim: Claim) -> None:
        """``claim`` was compared with its derived block (and is no longer needed)."""
        self.checked += 1
        self._claims.pop(claim.number, None)
