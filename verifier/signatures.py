"""Checking the sequencer's signatures (docs/feed.md, "Signatures").

A signature is secp256k1 ECDSA over a 32-byte digest itself (no EIP-191 prefix): the mini-block
header digest for a mini-block, the block hash for an EVM block. It is valid when ``s`` is in
the lower half of the group order (as Ethereum requires), ``r`` and ``s`` are in range, and the
address it recovers to is the one the chain's signing schedule (``chain.sequencer_signers`` in
the verifier's own config) names for the record's EVM block.
"""

from __future__ import annotations

from collections.abc import Sequence

from coincurve import PublicKey

from sequencer.config import SignerPeriod
from verifier.commitments import keccak
from verifier.wire import Signature

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def recover_signer(digest: bytes, signature: Signature) -> bytes | None:
    """The address whose key made ``signature`` over ``digest`` (``None``: not a valid one)."""
    r, s, y = signature.r, signature.s, signature.y_parity
    if not (0 < r < SECP256K1_N and 0 < s <= SECP256K1_N // 2 and y in (0, 1)):
        return None
    try:
        public = PublicKey.from_signature_and_message(
            r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y,)), digest, hasher=None
        )
    except ValueError:
        return None
    return keccak(public.format(compressed=False)[1:])[12:]


def scheduled_signer(schedule: Sequence[SignerPeriod], block_number: int) -> bytes | None:
    """The address that signs EVM block ``block_number`` (``None``: the block is unsigned)."""
    signer = None
    for period in schedule:
        if period.from_block > block_number:
            break
        signer = period.address
    return signer


def signature_problem(
    schedule: Sequence[SignerPeriod], block_number: int, digest: bytes, signature: Signature | None
) -> tuple[str, str] | None:
    """What is wrong with a record's signature, as ``(claimed, expected)``; ``None``: nothing."""
    expected = scheduled_signer(schedule, block_number)
    if expected is None:  # an unsigned period (before the schedule's first entry)
        return None
    if signature is None:
        return "no signature", "signed by 0x" + expected.hex()
    signer = recover_signer(digest, signature)
    if signer is None:
        return "an invalid signature", "signed by 0x" + expected.hex()
    if signer != expected:
        return "signed by 0x" + signer.hex(), "signed by 0x" + expected.hex()
    return None
