"""JSON-RPC value encoding: parsing of parameters, and the Ethereum hex formats.

Parameters are parsed strictly except where the ecosystem is lenient: a QUANTITY may carry
leading zeros (``0x01``; ethers' ``toBeHex`` produces them, and anvil, hardhat and reth accept
them), up to ``MAX_QUANTITY_DIGITS`` hex digits. Output is always canonical.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sequencer.jsonrpc.errors import InvalidParams

MAX_QUANTITY_DIGITS = 80
"""Leading zeros included; a 256-bit value needs 64."""
_QUANTITY = re.compile(rf"0x[0-9a-fA-F]{{1,{MAX_QUANTITY_DIGITS}}}")
_HEX_DIGITS = re.compile(r"0x[0-9a-fA-F]*")
BLOCK_TAGS = ("latest", "pending", "safe", "finalized", "earliest")


def q(n: int) -> str:
    """A QUANTITY: ``0x``-prefixed hex without leading zeros."""
    return hex(n)


def d(b: bytes) -> str:
    """DATA: ``0x``-prefixed hex, two digits per byte."""
    return "0x" + b.hex()


def parse_quantity(value: Any, name: str, max_bits: int = 256) -> int:
    """A QUANTITY parameter (hex, leading zeros allowed, at most ``max_bits`` bits)."""
    if not isinstance(value, str) or len(value) > 2 + MAX_QUANTITY_DIGITS or not _QUANTITY.fullmatch(value):
        raise InvalidParams(f"invalid {name}: expected a hex quantity like 0x1a, got {value!r}")
    n = int(value, 16)
    if n.bit_length() > max_bits:
        raise InvalidParams(f"invalid {name}: exceeds {max_bits} bits")
    return n


def parse_data(value: Any, name: str, max_len: int | None = None) -> bytes:
    """A DATA parameter (``0x`` and two hex digits per byte), at most ``max_len`` bytes.

    The length is checked before the digits, and the digits with a regex that captures nothing
    (a 5 MiB body of hex costs milliseconds, not the ~0.3 s of a group per byte)."""
    if max_len is not None and isinstance(value, str) and len(value) > 2 + 2 * max_len:
        raise InvalidParams(f"invalid {name}: longer than {max_len} bytes")
    if not isinstance(value, str) or len(value) % 2 or not _HEX_DIGITS.fullmatch(value):
        raise InvalidParams(f"invalid {name}: expected 0x-prefixed hex bytes, got {_short(value)}")
    return bytes.fromhex(value[2:])


def parse_address(value: Any, name: str = "address") -> bytes:
    """A 20-byte address."""
    raw = parse_data(value, name)
    if len(raw) != 20:
        raise InvalidParams(f"invalid {name}: expected 20 bytes, got {len(raw)}")
    return raw


def parse_hash(value: Any, name: str = "hash") -> bytes:
    """A 32-byte hash."""
    raw = parse_data(value, name)
    if len(raw) != 32:
        raise InvalidParams(f"invalid {name}: expected 32 bytes, got {len(raw)}")
    return raw


def parse_bool(value: Any, name: str) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise InvalidParams(f"invalid {name}: expected a boolean, got {_short(value)}")
    return value


def parse_slot(value: Any, name: str = "slot") -> int:
    """A storage slot: a 32-byte word (``0x`` and 64 hex digits) or a QUANTITY."""
    if isinstance(value, str) and len(value) == 66:
        return int.from_bytes(parse_hash(value, name), "big")
    return parse_quantity(value, name)


@dataclass(frozen=True, slots=True)
class BlockRef:
    """A block parameter: a tag, a number, or a hash (EIP-1898)."""

    tag: str | None = None
    number: int | None = None
    hash: bytes | None = None


def parse_block_ref(value: Any, name: str = "block") -> BlockRef:
    """A block parameter: a tag, a number, or an EIP-1898 object; absent is ``latest``."""
    if value is None:
        return BlockRef(tag="latest")
    if isinstance(value, str):
        if value in BLOCK_TAGS:
            return BlockRef(tag=value)
        return BlockRef(number=parse_quantity(value, name, 64))
    if isinstance(value, dict):
        if "blockHash" in value:
            return BlockRef(hash=parse_hash(value["blockHash"], f"{name}.blockHash"))
        if "blockNumber" in value:
            return parse_block_ref(value["blockNumber"], f"{name}.blockNumber")
    raise InvalidParams(f"invalid {name}: expected a block number, tag or {{blockHash}}, got {_short(value)}")


def params_list(params: Any, method: str, minimum: int, maximum: int) -> list[Any]:
    """Positional params with count checks; trailing optional params padded with None."""
    if params is None:
        params = []
    if not isinstance(params, list):
        raise InvalidParams(f"{method}: params must be an array")
    if not minimum <= len(params) <= maximum:
        expected = str(minimum) if minimum == maximum else f"{minimum} to {maximum}"
        raise InvalidParams(f"{method}: expected {expected} params, got {len(params)}")
    return params + [None] * (maximum - len(params))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
