"""The 2048-bit logs bloom (yellow paper, M3:2048): building it, and asking it."""

from __future__ import annotations

from collections.abc import Iterable

from eth_hash.auto import keccak

from sequencer.types import Log


def bloom_bits(item: bytes) -> int:
    """The three bits ``item`` (an address or a topic) sets in a bloom, as an integer mask."""
    h = keccak(item)
    return (
        (1 << (((h[0] << 8) | h[1]) & 2047))
        | (1 << (((h[2] << 8) | h[3]) & 2047))
        | (1 << (((h[4] << 8) | h[5]) & 2047))
    )


def logs_bloom(logs: Iterable[Log]) -> bytes:
    """The bloom of the logs' addresses and topics, 256 bytes big-endian."""
    bloom = 0
    for log in logs:
        bloom |= bloom_bits(log.address)
        for topic in log.topics:
            bloom |= bloom_bits(topic)
    return bloom.to_bytes(256, "big")


def bloom_may_contain(bloom: int, item: bytes) -> bool:
    """False when ``item`` is certainly not in the bloom; True when it may be."""
    bits = bloom_bits(item)
    return bloom & bits == bits
