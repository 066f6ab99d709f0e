"""Ethereum (Prague) block headers: the 21 fields, decoded strictly and encoded.

A header is ``rlp([parentHash, ommersHash, coinbase, stateRoot, transactionsRoot,
receiptsRoot, logsBloom, difficulty, number, gasLimit, gasUsed, timestamp, extraData,
prevRandao, nonce, baseFeePerGas, withdrawalsRoot, blobGasUsed, excessBlobGas,
parentBeaconBlockRoot, requestsHash])`` and its hash is the keccak of that encoding. Decoding
rejects anything else (another field count, a field of the wrong size, a non-canonical integer)
with :class:`~verifier.wire.Malformed`.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from hashlib import sha256

from sequencer import fastrlp
from verifier.wire import Malformed

EMPTY_TRIE_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
EMPTY_OMMERS_HASH = bytes.fromhex("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347")
EMPTY_REQUESTS_HASH = sha256(b"").digest()
ZERO_HASH = b"\x00" * 32
ZERO_NONCE = b"\x00" * 8
FIELDS = 21

# (name, size in bytes for byte fields; None for integers)
_LAYOUT: tuple[tuple[str, int | None], ...] = (
    ("parent_hash", 32),
    ("ommers_hash", 32),
    ("coinbase", 20),
    ("state_root", 32),
    ("transactions_root", 32),
    ("receipts_root", 32),
    ("logs_bloom", 256),
    ("difficulty", None),
    ("number", None),
    ("gas_limit", None),
    ("gas_used", None),
    ("timestamp", None),
    ("extra_data", -1),
    ("prev_randao", 32),
    ("nonce", 8),
    ("base_fee", None),
    ("withdrawals_root", 32),
    ("blob_gas_used", None),
    ("excess_blob_gas", None),
    ("parent_beacon_block_root", 32),
    ("requests_hash", 32),
)
MAX_EXTRA_DATA = 32


@dataclass(frozen=True, slots=True)
class Header:
    """A Prague header's fields, in their order."""

    parent_hash: bytes
    ommers_hash: bytes
    coinbase: bytes
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    logs_bloom: bytes
    difficulty: int
    number: int
    gas_limit: int
    gas_used: int
    timestamp: int
    extra_data: bytes
    prev_randao: bytes
    nonce: bytes
    base_fee: int
    withdrawals_root: bytes
    blob_gas_used: int
    excess_blob_gas: int
    parent_beacon_block_root: bytes
    requests_hash: bytes

    def encode(self) -> bytes:
        """The header's RLP."""
        return fastrlp.encode(list(astuple(self)))


def decode_header(data: bytes, where: str = "header") -> Header:
    """A header from its RLP; raises :class:`Malformed` for anything but a Prague header."""
    try:
        fields = fastrlp.decode(data)
    except (fastrlp.DecodingError, RecursionError, ValueError, TypeError, IndexError) as exc:
        raise Malformed(where, f"not canonical RLP: {str(exc)[:100]}") from None
    if type(fields) is not list or len(fields) != FIELDS:
        raise Malformed(where, f"not a Prague header: expected a list of {FIELDS} fields")
    values: list[object] = []
    for (name, size), item in zip(_LAYOUT, fields, strict=True):
        if type(item) is not bytes:
            raise Malformed(f"{where}.{name}", "expected a byte string, got a list")
        if size is None:
            if item[:1] == b"\x00" or len(item) > 32:
                raise Malformed(f"{where}.{name}", "not a canonical integer")
            values.append(int.from_bytes(item, "big"))
        elif size == -1:
            if len(item) > MAX_EXTRA_DATA:
                raise Malformed(f"{where}.{name}", f"{len(item)} bytes, more than {MAX_EXTRA_DATA}")
            values.append(item)
        else:
            if len(item) != size:
                raise Malformed(f"{where}.{name}", f"expected {size} bytes, got {len(item)}")
            values.append(item)
    return Header(*values)  # type: ignore[arg-type]
