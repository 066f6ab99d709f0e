"""Withdrawals: the L2ToL1MessagePasser predeploy's messages, their hash and where they are stored.

In the OP stack's encodings (ethereum-optimism/specs, protocol/withdrawals.md):

- a withdrawal is ``(nonce, sender, target, value, gasLimit, data)``; its hash is
  ``keccak256(abi.encode(nonce, sender, target, value, gasLimit, data))`` (``Hashing.hashWithdrawal``);
- the message passer at :data:`MESSAGE_PASSER` records it as ``sentMessages[hash] = true``, the
  mapping at slot 0, so the storage slot is ``keccak256(abi.encode(hash, uint256(0)))`` and the
  message passer's storage root (in every output root) commits to every withdrawal sent;
- it emits ``MessagePassed(uint256 indexed nonce, address indexed sender, address indexed target,
  uint256 value, uint256 gasLimit, bytes data, bytes32 withdrawalHash)``.

The nonce is versioned: version (1) in its top two bytes, the count below.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from sequencer.config import GenesisAccount

MESSAGE_PASSER = bytes.fromhex("4200000000000000000000000000000000000016")
"""The L2ToL1MessagePasser predeploy's address."""
MESSAGE_PASSER_NAME = "L2ToL1MessagePasser"
MESSAGE_VERSION = 1
SENT_MESSAGES_SLOT = 0
MESSAGE_PASSED_TOPIC = bytes(keccak(b"MessagePassed(uint256,address,address,uint256,uint256,bytes,bytes32)"))
_MESSAGE_PASSED_DATA = ("uint256", "uint256", "bytes", "bytes32")


class MalformedWithdrawal(ValueError):
    """A log that is not a well-formed ``MessagePassed`` of the message passer (the message says why)."""


@dataclass(frozen=True, slots=True)
class WithdrawalTx:
    """One withdrawal, as the portal's ``WithdrawalTransaction`` struct has it."""

    nonce: int
    sender: bytes
    target: bytes
    value: int
    gas_limit: int
    data: bytes

    @property
    def hash(self) -> bytes:
        """:func:`withdrawal_hash` of this withdrawal."""
        return withdrawal_hash(self)

    def as_tuple(self) -> tuple[int, str, str, int, int, bytes]:
        """The struct as web3.py takes it (checksummed addresses)."""
        return (
            self.nonce,
            str(to_checksum_address(self.sender)),
            str(to_checksum_address(self.target)),
            self.value,
            self.gas_limit,
            self.data,
        )


def withdrawal_hash(tx: WithdrawalTx) -> bytes:
    """``keccak256(abi.encode(nonce, sender, target, value, gasLimit, data))``."""
    encoded = abi_encode(
        ["uint256", "address", "address", "uint256", "uint256", "bytes"],
        [tx.nonce, tx.sender, tx.target, tx.value, tx.gas_limit, tx.data],
    )
    return bytes(keccak(encoded))


def sent_message_slot(w_hash: bytes) -> int:
    """The message passer's storage slot of ``sentMessages[w_hash]``: ``keccak256(hash ++ uint256(0))``."""
    return int.from_bytes(keccak(w_hash + SENT_MESSAGES_SLOT.to_bytes(32, "big")), "big")


def hash_output_root_proof(state_root: bytes, message_passer_storage_root: bytes, block_hash: bytes) -> bytes:
    """The version-0 output root: ``keccak256(bytes32(0) ++ stateRoot ++ messagePasserStorageRoot ++
    latestBlockhash)`` (OP's ``Hashing.hashOutputRootProof``, what the portal checks a proof with)."""
    for name, value in (
        ("state_root", state_root),
        ("message_passer_storage_root", message_passer_storage_root),
        ("block_hash", block_hash),
    ):
        if len(value) != 32:
            raise ValueError(f"{name} must be 32 bytes")
    return bytes(keccak(b"\x00" * 32 + state_root + message_passer_storage_root + block_hash))


def versioned_nonce(count: int, version: int = MESSAGE_VERSION) -> int:
    """``version << 240 | count`` (``Encoding.encodeVersionedNonce``)."""
    return (version << 240) | count


def decode_message_passed(topics: list[bytes], data: bytes) -> WithdrawalTx:
    """A ``MessagePassed`` log (its topics and data) as the withdrawal it records.

    Raises :class:`MalformedWithdrawal` for another event, bad encoding or a hash that is not the
    withdrawal's.
    """
    if len(topics) != 4 or topics[0] != MESSAGE_PASSED_TOPIC:
        raise MalformedWithdrawal("not a MessagePassed log")
    try:
        value, gas_limit, payload, w_hash = abi_decode(list(_MESSAGE_PASSED_DATA), data)
    except Exception as exc:  # eth_abi's DecodingError and anything a hostile input triggers
        raise MalformedWithdrawal(f"bad MessagePassed data: {exc}") from None
    tx = WithdrawalTx(
        nonce=int.from_bytes(topics[1], "big"),
        sender=topics[2][12:],
        target=topics[3][12:],
        value=int(value),
        gas_limit=int(gas_limit),
        data=bytes(payload),
    )
    if tx.hash != bytes(w_hash):
        raise MalformedWithdrawal("the withdrawal hash in the log is not the withdrawal's")
    return tx


@cache
def _artifact(name: str) -> dict[str, Any]:
    import json

    text = resources.files("sequencer.bridge").joinpath("artifacts", f"{name}.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def message_passer_abi() -> list[dict[str, Any]]:
    """The L2ToL1MessagePasser's ABI."""
    value: list[dict[str, Any]] = _artifact(MESSAGE_PASSER_NAME)["abi"]
    return value


@cache
def predeploys() -> tuple[GenesisAccount, ...]:
    """The contracts every L2 genesis holds: the L2ToL1MessagePasser (code only: no balance, no
    storage). A configured genesis account at a predeploy's address is replaced by the predeploy."""
    code = bytes.fromhex(_artifact(MESSAGE_PASSER_NAME)["deployedBytecode"][2:])
    return (GenesisAccount(address=MESSAGE_PASSER, balance=0, code=code),)


def genesis_allocation(configured: tuple[GenesisAccount, ...]) -> tuple[GenesisAccount, ...]:
    """The configured genesis accounts with the predeploys in (a predeploy wins its address)."""
    accounts = {a.address: a for a in configured}
    accounts.update((p.address, p) for p in predeploys())
    return tuple(accounts.values())
