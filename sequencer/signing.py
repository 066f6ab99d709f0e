"""The sequencer's signatures, made the way MegaETH makes them (docs/feed.md, "Signatures").

Every mini-block is signed over its header digest (``codec.mini_block_signing_hash``), every
sealed EVM block over its block hash: secp256k1 ECDSA over the 32-byte digest itself (no
EIP-191 prefix), so ``ecrecover(digest, v, r, s)`` on any EVM returns the signer. A signature
travels as ``{r, s, yParity}``; ``s`` is in the lower half of the group order (libsecp256k1
normalises it), as Ethereum requires.

Which key signs is the chain's signing schedule (``chain.sequencer_signers``): the key of the
address scheduled for a mini-block's EVM block. :class:`FeedSigner` holds the node's keys and
signs each record once (the feed and the ``miniBlocks`` subscription share the result), and
can re-sign a digest for the fire drill (:meth:`FeedSigner.sign_digest`).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coincurve import PrivateKey, PublicKey
from eth_hash.auto import keccak

from sequencer.codec import mini_block_signing_hash
from sequencer.config import ChainConfig, NodeConfig
from sequencer.errors import ConfigError
from sequencer.types import EvmBlock, MiniBlock

log = logging.getLogger("sequencer.signing")
CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Signature:
    """An ECDSA signature as Ethereum writes it: ``r``, ``s`` and the recovery bit ``yParity``."""

    r: int
    s: int
    y_parity: int

    def as_json(self) -> dict[str, str]:
        """The wire form ``{"r": "0x..", "s": "0x..", "yParity": "0x0"|"0x1"}`` (hex quantities)."""
        return {"r": hex(self.r), "s": hex(self.s), "yParity": hex(self.y_parity)}


class SequencerKey:
    """One secp256k1 private key and the address it signs as."""

    def __init__(self, secret: bytes) -> None:
        self._key = PrivateKey(secret)
        self.address = address_of(self._key.public_key)

    def sign(self, digest: bytes) -> Signature:
        """Sign the 32-byte ``digest`` itself (no hashing, no prefix)."""
        raw = self._key.sign_recoverable(digest, hasher=None)
        return Signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64])


def address_of(public_key: PublicKey) -> bytes:
    """The Ethereum address of a public key: the last 20 bytes of keccak(x || y)."""
    return bytes(keccak(public_key.format(compressed=False)[1:]))[12:]


def recover(digest: bytes, signature: Signature) -> bytes | None:
    """The address that signed ``digest`` (``ecrecover``), or ``None`` for an invalid signature."""
    try:
        raw = signature.r.to_bytes(32, "big") + signature.s.to_bytes(32, "big") + bytes([signature.y_parity])
        return address_of(PublicKey.from_signature_and_message(raw, digest, hasher=None))
    except (ValueError, OverflowError, TypeError):
        return None


def load_keys(config: NodeConfig) -> list[SequencerKey]:
    """The node's signing keys: ``signing.keys`` and the keys in ``signing.key_files`` (each
    file one ``0x``-hex key). Raises :class:`ConfigError` naming a file that cannot be used."""
    keys = [SequencerKey(secret) for secret in config.signing_keys]
    for i, path in enumerate(config.signing_key_files):
        where = f"signing.key_files: entry {i}"
        try:
            text = Path(path).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: cannot read the key file {path}: {exc}") from None
        try:
            secret = bytes.fromhex(text[2:] if text.startswith("0x") else text)
            keys.append(SequencerKey(secret))
        except ValueError:
            raise ConfigError(f"{where}: {path} does not hold a 0x-hex secp256k1 private key") from None
    return keys


class FeedSigner:
    """Signs mini-blocks and EVM blocks with the key the chain's schedule names for their block."""

    def __init__(self, chain: ChainConfig, keys: Iterable[SequencerKey]) -> None:
        self.chain = chain
        self.keys = {key.address: key for key in keys}
        self._cache: OrderedDict[bytes, Signature | None] = OrderedDict()
        self._lock = threading.Lock()  # the feed signs history in a worker thread
        self._warned: set[bytes] = set()

    @property
    def enabled(self) -> bool:
        """Whether the chain is signed at all (it has a signing schedule)."""
        return bool(self.chain.sequencer_signers)

    def missing_keys(self) -> list[bytes]:
        """Scheduled signers this node holds no key for (it cannot sign their blocks)."""
        return [p.address for p in self.chain.sequencer_signers if p.address not in self.keys]

    def _sign(self, block_number: int, record_hash: bytes, digest: bytes) -> Signature | None:
        with self._lock:
            cached = self._cache.get(record_hash, False)
        if cached is not False:
            return cached  # type: ignore[return-value]
        signer = self.chain.signer_at(block_number)
        signature = None
        if signer is not None:
            key = self.keys.get(signer)
            if key is not None:
                signature = key.sign(digest)
            elif signer not in self._warned:
                self._warned.add(signer)
                log.error(
                    "no signing key for the scheduled sequencer signer=0x%s block=%d: sent unsigned",
                    signer.hex(),
                    block_number,
                )
        with self._lock:
            self._cache[record_hash] = signature
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return signature

    def mini_block(self, mb: MiniBlock) -> Signature | None:
        """The signature of a mini-block (``None``: its block is unsigned, or no key for it)."""
        if not self.enabled:
            return None
        return self._sign(mb.block_number, mb.hash, mini_block_signing_hash(mb))

    def block(self, block: EvmBlock) -> Signature | None:
        """The signature of a sealed EVM block, over its hash."""
        if not self.enabled:
            return None
        return self._sign(block.number, block.hash, block.hash)

    def sign_digest(self, block_number: int, digest: bytes) -> Signature | None:
        """Sign ``digest`` with the key scheduled for ``block_number`` (the fire drill re-signs
        what it corrupts, so it reads as a lie of the sequencer itself)."""
        signer = self.chain.signer_at(block_number)
        key = self.keys.get(signer) if signer is not None else None
        return key.sign(digest) if key is not None else None

    def mini_block_json(self, mb: MiniBlock) -> dict[str, Any] | None:
        """:meth:`mini_block` in its wire form (``None`` when unsigned)."""
        signature = self.mini_block(mb)
        return signature.as_json() if signature is not None else None
