"""L1 origins: which L1 block (epoch) each L2 block is batched against.

An L2 block's origin is the newest L1 block that is at least ``origin_depth`` blocks behind the
L1 head, not older than the previous L2 block's origin, and not newer than the L2 block itself
(its timestamp at or below the L2 block's, OP's "L2 time >= L1 time" rule). The first origin is
the settlement's start block; an L2 block older than it (sealed before settlement began) keeps
that one. Origins are chosen when a block is batched, not when it is sealed: sealing never waits
for L1, and an L2 block batched after an L1 outage still gets a recent origin. Derivation checks
every rule but the depth (docs/settlement.md).
"""

from __future__ import annotations

from collections import OrderedDict

from sequencer.settlement.l1 import L1Block, L1Client
from sequencer.settlement.progress import Origin

CACHE_SIZE = 4096


def origin_of(block: L1Block) -> Origin:
    """An L1 block as an origin."""
    return Origin(block.number, block.hash, block.timestamp)


class OriginPicker:
    """Chooses L1 origins, reading (and caching) canonical L1 headers as it goes."""

    def __init__(self, l1: L1Client, start: Origin, depth: int) -> None:
        self.l1 = l1
        self.start = start
        self.depth = depth
        self._headers: OrderedDict[int, L1Block] = OrderedDict()

    def forget_from(self, number: int) -> None:
        """L1 reorganized at or below ``number``: drop the cached headers from there on."""
        for n in [n for n in self._headers if n >= number]:
            del self._headers[n]

    async def header(self, number: int) -> L1Block | None:
        """The canonical L1 header at ``number`` (cached)."""
        cached = self._headers.get(number)
        if cached is not None:
            return cached
        block = await self.l1.block(number)
        if block is not None:
            self._headers[number] = block
            if len(self._headers) > CACHE_SIZE:
                self._headers.popitem(last=False)
        return block

    async def pick(
        self, previous: Origin | None, l2_timestamp: int, l1_head: int, at_least: int | None = None
    ) -> Origin:
        """The origin of an L2 block with ``l2_timestamp`` whose predecessor's origin is ``previous``;
        ``at_least``: the newest L1 block of the block's deposits (the origin is not older)."""
        current = previous or self.start
        canonical = await self.header(current.number)
        if canonical is not None and canonical.hash != current.hash:
            # the previous origin was reorganized away: keep its height on the canonical chain
            current = origin_of(canonical)
        limit = max(l1_head - self.depth, at_least if at_least is not None else -1)
        while current.number < limit:
            nxt = await self.header(current.number + 1)
            if nxt is None or nxt.timestamp > l2_timestamp:
                break
            if nxt.parent_hash != current.hash:
                self.forget_from(current.number)
                break  # a reorg under our feet: the next call starts over from the canonical chain
            current = origin_of(nxt)
        return current
