"""Developer fault injection on the feed: the operators' fire drill (``sequencer run --dev-fault``).

A :class:`FaultInjector` corrupts exactly one message of the state-diff feed, so operators can
check that their verifiers and alerts notice. Only the stream is touched: the chain, the store
and the JSON-RPC keep the true data. The node refuses it unless the chain config is a devnet.

The target is a pure function of the chain: *the first message at or after number N that
qualifies for the fault kind* ("number" is the mini-block number for the mini-block kinds, the
EVM block number for ``state-root``). Every follower, whether it reads that message from
history or live, and the same process after a restart, sees the same message corrupted in the
same way. The injector examines messages in seq order as they pass; when a qualifying message
arrives while earlier positions have not been examined yet (a follower starting from a later
``from``, or a process started over an existing chain), it first scans those positions from
``source`` (the hub's uncorrupted history) so an earlier qualifying message is not missed.

Kinds and what they do to the target message. The fire drill plays a *lying sequencer*: what
it corrupts in a mini-block it re-hashes (the v2 mini-block hash over the message's own fields)
and re-signs with the node's own key, and a corrupted block header is re-hashed and re-signed,
so each fault reads as the lie it names, not as a broken hash or signature (except the two
kinds that are about those):

* ``balance``: the first stateDiff entry that is not ``deleted`` gets balance + 1 wei.
* ``storage``: the first storage slot (of the first non-deleted entry with a non-empty
  ``storage`` list) gets value + 1 (mod 2**256).
* ``receipt-gas``: the first receipt's ``gasUsed`` + 1 (``cumulativeGasUsed`` untouched).
* ``receipt-status``: the first receipt's ``status`` flipped, ``0x1`` <-> ``0x0``.
* ``log``: the first log (receipt order) gets its ``data`` changed: ``0x`` becomes ``0x01``,
  otherwise the last byte is XOR-ed with 0x01.
* ``state-root``: the state root (field 3) inside the block's RLP ``header`` has its last byte
  XOR-ed with 0x01, and ``hash`` is recomputed as keccak of the new header, so the header stays
  self-consistent and the fault reads as "state root wrong" (the next block's ``parentHash``
  still names the true hash).
* ``drop-tx``: the last transaction and its receipt are removed from the mini-block.
* ``reorder-tx``: the first two transactions are swapped, and their receipts with them (each
  receipt keeps its own fields, ``transactionIndex`` included).
* ``skip-seq``: the first mini-block at or after N is not sent at all, so followers see a gap
  (and see it again when they reconnect from the missing position).
* ``base-fee``: the mini-block's ``env.baseFee`` + 1 (not the EIP-1559 rule's value).
* ``timestamp``: the mini-block's ``env.timestamp`` one hour earlier (not after its parent
  block's; an hour *later* would be a devnet's ``evm_increaseTime``, which its followers accept).
* ``gas-limit``: the mini-block's ``env.gasLimit`` set to 1 (not the configured limit, and
  below the gas used).
* ``coinbase``: the mini-block's ``env.coinbase`` set to ``0x000...dead``.
* ``genesis``: the ``genesis`` message claims an extra account holding 10^9 ether, and its
  header a different state root (the hash recomputed): not the genesis of the chain's config.
* ``mini-block-hash``: the mini-block's ``hash`` has its last byte XOR-ed with 0x01 (not
  re-hashed: the hash itself is the fault).
* ``relabel-number``: the mini-block's ``number`` + 1 (re-hashed and re-signed).
* ``forged-signature``: the mini-block's ``signature`` replaced by one of the same digest made
  with a key that is not the sequencer's (:data:`FORGER_KEY`).

Qualifying: ``balance`` needs a non-deleted stateDiff entry, ``storage`` a non-empty storage
list on one, ``receipt-gas``/``receipt-status``/``drop-tx`` at least one transaction, ``log``
a receipt with a log, ``reorder-tx`` at least two transactions, ``skip-seq`` any mini-block,
``state-root`` any EVM block (``block`` message; genesis never); ``genesis`` the genesis
message (N is ignored); the other new kinds any mini-block (``forged-signature`` one that is
signed).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable
from typing import Any

import rlp
from eth_hash.auto import keccak

# re-exported: what a dev fault is lives in sequencer.devfault (the config validates it there)
from sequencer.devfault import FEED_KINDS
from sequencer.devfault import DevFault as DevFault
from sequencer.devfault import parse_dev_fault as parse_dev_fault
from sequencer.feed.wire import wire_mini_block_hash, wire_signing_hash
from sequencer.logs import fields
from sequencer.signing import FeedSigner, SequencerKey

log = logging.getLogger("sequencer.feed.faults")

KINDS = FEED_KINDS
"""The kinds this module injects (the settlement kinds are the batcher's and the proposer's)."""

_WORD = 2**256
STATE_ROOT_FIELD = 3
"""Index of the state root in an Ethereum header's RLP list."""

Message = dict[str, Any]
Source = Callable[[int], Iterable[Message]]
FORGER_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
"""The key ``forged-signature`` signs with: a well-known test key, never a sequencer's."""
DEAD_COINBASE = bytes.fromhex("000000000000000000000000000000000000dead")
EXTRA_GENESIS_ACCOUNT = "0x00000000000000000000000000000000000beef1"
_ENV_KINDS = ("base-fee", "timestamp", "gas-limit", "coinbase")
_UNRESIGNED = ("mini-block-hash", "forged-signature")


def _q(n: int) -> str:
    return hex(n)


def _int(text: str) -> int:
    return int(text, 16)


def _live_accounts(mb: Message) -> list[Message]:
    return [a for a in mb["stateDiff"] if not a.get("deleted")]


def _first_log(mb: Message) -> Message | None:
    for receipt in mb["receipts"]:
        if receipt["logs"]:
            first: Message = receipt["logs"][0]
            return first
    return None


class FaultInjector:
    """Corrupts the one target message of a :class:`DevFault`; passes every other one through."""

    def __init__(self, fault: DevFault, source: Source | None = None) -> None:
        self.fault = fault
        self.source = source
        self.signer: FeedSigner | None = None
        self._target: int | None = None
        # every position below the frontier has been examined and is not the target; nothing
        # below ``at`` can qualify (a message's number never exceeds its seq)
        self._frontier = 0 if fault.kind == "genesis" else fault.at

    @property
    def target_seq(self) -> int | None:
        """The seq of the corrupted message, once known."""
        return self._target

    @property
    def skipped_seq(self) -> int | None:
        """For ``skip-seq``, the position deliberately not sent (once known), else None."""
        return self._target if self.fault.kind == "skip-seq" else None

    def bind_source(self, source: Source) -> None:
        """Where to read uncorrupted messages from a seq on (the feed hub's history)."""
        if self.source is None:
            self.source = source

    def bind_signer(self, signer: FeedSigner) -> None:
        """The node's signer: what is corrupted is re-signed with the sequencer's own key."""
        self.signer = signer

    # -- choosing the target ------------------------------------------------------------------
    def qualifies(self, message: Message) -> bool:
        """Whether ``message`` could be the target (ignoring whether an earlier one is)."""
        kind = self.fault.kind
        if kind == "state-root":
            return message.get("type") == "block" and _int(message["block"]["number"]) >= self.fault.at
        if kind == "genesis":
            return message.get("type") == "genesis"
        if message.get("type") != "miniBlock":
            return False
        mb = message["miniBlock"]
        if _int(mb["number"]) < self.fault.at:
            return False
        if kind == "skip-seq" or kind in _ENV_KINDS or kind in ("mini-block-hash", "relabel-number"):
            return True
        if kind == "forged-signature":
            return "signature" in mb
        if kind == "balance":
            return bool(_live_accounts(mb))
        if kind == "storage":
            return any(a["storage"] for a in _live_accounts(mb))
        if kind == "log":
            return _first_log(mb) is not None
        if kind == "reorder-tx":
            return len(mb["transactions"]) >= 2
        return len(mb["transactions"]) >= 1  # receipt-gas, receipt-status, drop-tx

    def _examine(self, message: Message) -> None:
        seq: int = message["seq"]
        if seq < self._frontier:
            return
        if not self.qualifies(message):
            if seq == self._frontier:
                self._frontier += 1
            return
        if seq > self._frontier and self.source is not None:
            for earlier in self.source(self._frontier):
                earlier_seq: int = earlier["seq"]
                if earlier_seq >= seq:
                    break
                if earlier_seq < self._frontier:
                    continue
                if self.qualifies(earlier):
                    self._choose(earlier_seq)
                    return
                self._frontier = earlier_seq + 1
        self._choose(seq)

    def _choose(self, seq: int) -> None:
        self._target = seq
        self._frontier = seq + 1
        log.warning("dev fault target chosen", extra=fields(kind=self.fault.kind, at=self.fault.at, seq=seq))

    # -- applying -------------------------------------------------------------------------------
    def apply(self, message: Message) -> Message | None:
        """The message to send: ``message`` itself, a corrupted copy, or None to suppress it."""
        if self._target is None:
            self._examine(message)
        if message["seq"] != self._target:
            return message
        if self.fault.kind == "skip-seq":
            return None
        return self._corrupt(copy.deepcopy(message))

    def _corrupt(self, message: Message) -> Message:
        kind = self.fault.kind
        if kind in ("state-root", "genesis"):
            body = message["block" if kind == "state-root" else "genesis"]
            fields = rlp.decode(bytes.fromhex(body["header"][2:]))
            root = bytearray(fields[STATE_ROOT_FIELD])
            root[-1] ^= 0x01
            fields[STATE_ROOT_FIELD] = bytes(root)
            header = rlp.encode(fields)
            body["header"] = "0x" + header.hex()
            body["hash"] = "0x" + keccak(header).hex()
            if kind == "genesis":
                extra = {"address": EXTRA_GENESIS_ACCOUNT, "balance": _q(10**27), "nonce": "0x0"}
                body["alloc"].append({**extra, "code": "0x", "storage": []})
            elif "signature" in body:
                self._resign(body, _int(body["number"]), bytes(keccak(header)))
            return message
        mb = message["miniBlock"]
        self._corrupt_mini_block(mb)
        if kind == "mini-block-hash":
            digest = bytearray.fromhex(mb["hash"][2:])
            digest[-1] ^= 0x01
            mb["hash"] = "0x" + digest.hex()
        elif kind == "forged-signature":
            mb["signature"] = SequencerKey(FORGER_KEY).sign(wire_signing_hash(mb)).as_json()
        else:
            mb["hash"] = "0x" + wire_mini_block_hash(mb).hex()
            if "signature" in mb:
                self._resign(mb, _int(mb["blockNumber"]), wire_signing_hash(mb))
        return message

    def _resign(self, body: Message, block_number: int, digest: bytes) -> None:
        signature = self.signer.sign_digest(block_number, digest) if self.signer is not None else None
        if signature is not None:
            body["signature"] = signature.as_json()

    def _corrupt_mini_block(self, mb: Message) -> None:
        kind = self.fault.kind
        env = mb["env"]
        if kind == "balance":
            account = _live_accounts(mb)[0]
            account["balance"] = _q((_int(account["balance"]) + 1) % _WORD)
        elif kind == "storage":
            account = next(a for a in _live_accounts(mb) if a["storage"])
            slot = account["storage"][0]
            slot[1] = _q((_int(slot[1]) + 1) % _WORD)
        elif kind == "receipt-gas":
            receipt = mb["receipts"][0]
            receipt["gasUsed"] = _q(_int(receipt["gasUsed"]) + 1)
        elif kind == "receipt-status":
            receipt = mb["receipts"][0]
            receipt["status"] = "0x1" if _int(receipt["status"]) == 0 else "0x0"
        elif kind == "log":
            entry = _first_log(mb)
            assert entry is not None
            data = bytearray.fromhex(entry["data"][2:])
            if data:
                data[-1] ^= 0x01
            else:
                data = bytearray(b"\x01")
            entry["data"] = "0x" + data.hex()
        elif kind == "drop-tx":
            del mb["transactions"][-1]
            del mb["receipts"][-1]
        elif kind == "reorder-tx":
            for key in ("transactions", "receipts"):
                items = mb[key]
                items[0], items[1] = items[1], items[0]
        elif kind == "base-fee":
            env["baseFee"] = _q(_int(env["baseFee"]) + 1)
        elif kind == "timestamp":
            env["timestamp"] = _q(_int(env["timestamp"]) - 3600)
        elif kind == "gas-limit":
            env["gasLimit"] = _q(1)
        elif kind == "coinbase":
            env["coinbase"] = "0x" + DEAD_COINBASE.hex()
        elif kind == "relabel-number":
            mb["number"] = _q(_int(mb["number"]) + 1)
        elif kind not in _UNRESIGNED:  # pragma: no cover - DevFault validates the kind
            raise AssertionError(kind)
