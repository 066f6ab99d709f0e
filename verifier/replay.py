"""Checking a feed, message by message (docs/feed.md): re-execute, compare, decide.

:class:`Replay` starts at an EVM block boundary (``verifier/checkpoint.py``) and takes the
feed's messages in order. Each mini-block is re-executed (or, for mini-blocks another shard
owns and in replica mode, its claims are taken) on the open EVM block's state, and what it adds
to the block is kept in an :class:`OpenBlock`; each ``block`` message is checked against that
and, when it verifies, becomes the new :attr:`Replay.boundary`. Every check that fails raises
:class:`~verifier.verdict.Mismatch` with a :class:`~verifier.verdict.Verdict` naming the EVM
block, the mini-block, the transaction index (when one is at fault), the field, the claimed
and the recomputed value.

The in-memory cursor (:attr:`Replay.next_seq`) is the caller's to move past a message that
failed (``--on-mismatch continue``); the boundary only ever moves to a verified block.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from verifier.checkpoint import MAX_RECENT_HASHES, Boundary
from verifier.execution import (
    BlockState,
    Env,
    ExecutedTx,
    Executor,
    decode_header,
    encode_claimed_receipt,
    keccak,
    trie_root,
)
from verifier.verdict import Mismatch, Verdict

Message = dict[str, Any]
Fail = Callable[..., NoReturn]


@dataclass(frozen=True, slots=True)
class Mode:
    """Which mini-blocks this verifier re-executes: those whose number mod ``shard_count`` is
    ``shard_index``; none as a ``replica`` (it applies the claimed diffs and checks the roots)."""

    shard_index: int = 0
    shard_count: int = 1
    replica: bool = False

    @property
    def label(self) -> str:
        """``replica`` or ``shard I/N`` (as ``/status`` reports it)."""
        return "replica" if self.replica else f"shard {self.shard_index}/{self.shard_count}"

    def executes(self, mini_block: int) -> bool:
        """Whether mini-block number ``mini_block`` is re-executed here."""
        return not self.replica and mini_block % self.shard_count == self.shard_index


EVERYTHING = Mode()
"""One verifier re-executing every mini-block (``--shard 0/1``)."""


@dataclass(slots=True)
class OpenBlock:
    """The EVM block whose mini-blocks are being verified: its two states and what its verified
    mini-blocks add up to (for the block-level checks)."""

    executed: BlockState
    """The state re-execution builds (claims taken for mini-blocks not re-executed here)."""
    claimed: BlockState
    """The same block with only the stream's claimed diffs applied."""
    txs: list[bytes] = field(default_factory=list)
    receipts: list[bytes] = field(default_factory=list)
    gas: int = 0
    bloom: int = 0
    mini_blocks: int = 0

    def add(self, txs: list[bytes], receipts: list[bytes], gas: int, bloom: int) -> None:
        """A verified mini-block's transactions, encoded receipts, gas and bloom."""
        self.txs.extend(txs)
        self.receipts.extend(receipts)
        self.gas += gas
        self.bloom |= bloom
        self.mini_blocks += 1


def _h(b: bytes | None) -> str:
    return "0x" + b.hex() if b is not None else "null"


def _int(v: str) -> int:
    return int(v, 16)


def _b(v: str) -> bytes:
    return bytes.fromhex(v[2:])


def _fail(
    seq: int, block: int | None, mini: int | None, tx: int | None, field: str, claimed: str, recomputed: str
) -> NoReturn:
    raise Mismatch(Verdict(seq, block, mini, tx, field, claimed, recomputed, time.time()))


class Replay:
    """Verifies a stream of feed messages against its own re-execution, from ``boundary``."""

    def __init__(self, executor: Executor, boundary: Boundary, mode: Mode = EVERYTHING) -> None:
        self.executor = executor
        self.mode = mode
        self.boundary = boundary
        """The last verified EVM block boundary (where a restart resumes)."""
        self.next_seq = boundary.next_seq
        """The in-memory cursor: the position of the next message to check."""
        self.counts = boundary.counts
        """Verified counts so far, mini-blocks of the open block included."""
        self.open: OpenBlock | None = None
        self.last_mini_hash = boundary.last_mini_hash

    # -- entry point --------------------------------------------------------------------------
    def check(self, message: Message) -> Boundary | None:
        """Check the next message; the new boundary when it was a verified ``genesis`` or
        ``block``. Raises :class:`Mismatch` when a check fails (the cursor stays put)."""
        raw_seq = message.get("seq")
        seq: int = raw_seq if isinstance(raw_seq, int) else -1
        if message.get("version") != 1:
            _fail(seq, None, None, None, "stream.version", str(message.get("version")), "1")
        if seq != self.next_seq:
            _fail(seq, None, None, None, "stream.seq", str(seq), str(self.next_seq))
        kind = message.get("type")
        reached: Boundary | None = None
        try:
            if kind == "genesis":
                reached = self._genesis(seq, message["genesis"])
            elif kind == "miniBlock":
                self._mini_block(seq, message["miniBlock"])
            elif kind == "block":
                reached = self._block(seq, message["block"])
            else:
                _fail(seq, None, None, None, "stream.type", str(kind), "genesis|miniBlock|block")
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
            # a field missing or of the wrong shape: the stream is not what docs/feed.md says
            claimed = f"{type(exc).__name__}: {exc}"[:200]
            _fail(seq, None, None, None, "stream.malformed", claimed, f"a well-formed {kind} message")
        self.next_seq = seq + 1
        if reached is not None:
            self.boundary = reached
        return reached

    def skip(self, message: Message) -> None:
        """Move the cursor past ``message`` without checking it (after its mismatch, to go on)."""
        seq = message.get("seq")
        self.next_seq = (seq if isinstance(seq, int) else self.next_seq) + 1

    # -- genesis ------------------------------------------------------------------------------
    def _genesis(self, seq: int, g: dict[str, Any]) -> Boundary:
        root = self.executor.genesis(g["alloc"], g.get("generatedAccounts"))
        header_rlp = _b(g["header"])
        header = decode_header(header_rlp)
        if keccak(header_rlp) != _b(g["hash"]):
            _fail(0, 0, None, None, "genesis.hash", g["hash"], _h(keccak(header_rlp)))
        if header.state_root != root:
            _fail(0, 0, None, None, "genesis.stateRoot", _h(header.state_root), _h(root))
        block_hash = _b(g["hash"])
        return Boundary(seq + 1, 0, block_hash, root, (block_hash,), self.last_mini_hash, self.counts)

    # -- mini-blocks --------------------------------------------------------------------------
    def _mini_block(self, seq: int, mb: dict[str, Any]) -> None:
        number, block = _int(mb["number"]), _int(mb["blockNumber"])
        mini_hash, sealed_us = _b(mb["hash"]), _int(mb["timestampUs"])
        env = mb["env"]
        environment = Env(
            _int(env["number"]),
            _int(env["timestamp"]),
            _b(env["parentHash"]),
            _int(env["baseFee"]),
            _int(env["gasLimit"]),
            _b(env["coinbase"]),
            _b(env["prevRandao"]),
        )

        def fail(field: str, claimed: Any, recomputed: Any, tx: int | None = None) -> NoReturn:
            _fail(seq, block, number, tx, field, str(claimed), str(recomputed))

        at = self.boundary
        if block != at.block_number + 1 or environment.number != block:
            fail("miniBlock.blockNumber", block, at.block_number + 1)
        if environment.parent_hash != at.block_hash:
            fail("miniBlock.env.parentHash", env["parentHash"], _h(at.block_hash))
        expected_parent = self.last_mini_hash or at.block_hash
        if self.last_mini_hash is not None and _b(mb["parentHash"]) != expected_parent:
            fail("miniBlock.parentHash", mb["parentHash"], _h(expected_parent))
        raws = [_b(t) for t in mb["transactions"]]
        receipts = mb["receipts"]
        if len(receipts) != len(raws):
            fail("miniBlock.receipts", len(receipts), len(raws))
        if self.open is None:
            prev_hashes = at.recent_hashes
            self.open = OpenBlock(
                self.executor.block_state(at.state_root, environment, prev_hashes),
                self.executor.block_state(at.state_root, environment, prev_hashes),
            )
        opened = self.open
        txs = self.counts.txs
        if self.mode.executes(number):
            gas, encoded, bloom = self._execute_and_compare(fail, opened, raws, receipts, mb)
            txs += len(raws)
        else:
            gas, encoded, bloom = self._trust_claims(fail, opened, receipts, mb)
        opened.add(raws, encoded, gas, bloom)
        self.last_mini_hash = mini_hash
        self.counts = replace(
            self.counts, mini_blocks=self.counts.mini_blocks + 1, txs=txs, last_mini_block_us=sealed_us
        )

    def _execute_and_compare(
        self,
        fail: Fail,
        opened: OpenBlock,
        raws: list[bytes],
        receipts: list[dict[str, Any]],
        mb: dict[str, Any],
    ) -> tuple[int, list[bytes], int]:
        pre = self._pre_values(opened.executed, mb["stateDiff"])
        executed = self.executor.execute(opened.executed, raws, opened.gas)
        tx_offset = len(opened.txs)
        for i, (ex, claimed) in enumerate(zip(executed, receipts, strict=False)):
            self._compare_receipt(fail, i, ex, claimed, tx_offset + i)
        gas = sum(ex.gas_used for ex in executed)
        if _int(mb["gasUsed"]) != gas:
            fail("miniBlock.gasUsed", mb["gasUsed"], hex(gas))
        self._compare_diff(fail, opened.executed, pre, mb["stateDiff"])
        self.executor.apply_diff(opened.claimed, mb["stateDiff"])
        bloom = 0
        for ex in executed:
            bloom |= ex.bloom
        return gas, [ex.encoded_receipt for ex in executed], bloom

    def _trust_claims(
        self, fail: Fail, opened: OpenBlock, receipts: list[dict[str, Any]], mb: dict[str, Any]
    ) -> tuple[int, list[bytes], int]:
        """Another shard re-executes this mini-block: take its claims (the pre-state of the next
        one is known from the claimed diff) and keep them for the block-level checks."""
        gas = sum(_int(r["gasUsed"]) for r in receipts)
        if _int(mb["gasUsed"]) != gas:
            fail("miniBlock.gasUsed", mb["gasUsed"], hex(gas))
        encoded: list[bytes] = []
        bloom = 0
        for r in receipts:
            receipt_bytes, receipt_bloom = encode_claimed_receipt(r)
            encoded.append(receipt_bytes)
            bloom |= receipt_bloom
        self.executor.apply_diff(opened.executed, mb["stateDiff"])
        self.executor.apply_diff(opened.claimed, mb["stateDiff"])
        return gas, encoded, bloom

    def _pre_values(
        self, state: BlockState, diff: list[dict[str, Any]]
    ) -> dict[bytes, tuple[bool, int, int, bytes, dict[int, int]]]:
        """Each listed account's values before the mini-block runs (to catch no-op entries)."""
        out = {}
        for acc in diff:
            address = _b(acc["address"])
            slots = {_int(s): self.executor.storage(state, address, _int(s)) for s, _ in acc["storage"]}
            account = self.executor.account(state, address)
            out[address] = (account.exists, account.nonce, account.balance, account.code_hash, slots)
        return out

    @staticmethod
    def _compare_receipt(fail: Fail, i: int, ex: ExecutedTx, claimed: dict[str, Any], index: int) -> None:
        if claimed["transactionHash"] != _h(ex.tx_hash):
            fail("receipt.transactionHash", claimed["transactionHash"], _h(ex.tx_hash), i)
        if _int(claimed["transactionIndex"]) != index:
            fail("receipt.transactionIndex", claimed["transactionIndex"], hex(index), i)
        if not ex.valid:
            fail("transaction.valid", "included", f"invalid: {ex.error}", i)
        if _int(claimed["status"]) != ex.status:
            fail("receipt.status", claimed["status"], hex(ex.status), i)
        if _int(claimed["gasUsed"]) != ex.gas_used:
            fail("receipt.gasUsed", claimed["gasUsed"], hex(ex.gas_used), i)
        if _int(claimed["cumulativeGasUsed"]) != ex.cumulative_gas_used:
            fail("receipt.cumulativeGasUsed", claimed["cumulativeGasUsed"], hex(ex.cumulative_gas_used), i)
        logs = tuple(
            (_b(lg["address"]), tuple(_b(t) for t in lg["topics"]), _b(lg["data"])) for lg in claimed["logs"]
        )
        if logs != ex.logs:
            fail(
                "receipt.logs",
                claimed["logs"],
                [(_h(a), [_h(t) for t in ts], _h(d)) for a, ts, d in ex.logs],
                i,
            )
        contract = claimed.get("contractAddress")
        if (contract and _b(contract)) != (ex.contract_address or None):
            fail("receipt.contractAddress", contract, _h(ex.contract_address), i)

    def _compare_diff(
        self, fail: Fail, post: BlockState, pre: dict[bytes, Any], diff: list[dict[str, Any]]
    ) -> None:
        addresses = [acc["address"] for acc in diff]
        if addresses != sorted(addresses) or len(set(addresses)) != len(addresses):
            fail("stateDiff.order", addresses, sorted(set(addresses)))
        for acc in diff:
            address = _b(acc["address"])
            where = acc["address"]
            now = self.executor.account(post, address)
            if acc["deleted"]:
                if now.exists:
                    fail("stateDiff.deleted", f"{where} deleted", f"{where} exists")
                continue
            nonce, balance, code_hash = _int(acc["nonce"]), _int(acc["balance"]), _b(acc["codeHash"])
            if now.nonce != nonce:
                fail("stateDiff.nonce", f"{where}: {nonce}", f"{where}: {now.nonce}")
            if now.balance != balance:
                fail("stateDiff.balance", f"{where}: {balance}", f"{where}: {now.balance}")
            if now.code_hash != code_hash:
                fail("stateDiff.codeHash", f"{where}: {_h(code_hash)}", f"{where}: {_h(now.code_hash)}")
            if acc.get("code") is not None and keccak(_b(acc["code"])) != code_hash:
                fail("stateDiff.code", f"{where}: code does not hash to codeHash", _h(code_hash))
            slots = [_int(s) for s, _ in acc["storage"]]
            if slots != sorted(slots):
                fail("stateDiff.storage.order", slots, sorted(slots))
            existed, pre_nonce, pre_balance, pre_code_hash, pre_slots = pre[address]
            changed_slot = False
            for slot_hex, value_hex in acc["storage"]:
                slot, value = _int(slot_hex), _int(value_hex)
                actual = self.executor.storage(post, address, slot)
                if actual != value:
                    fail(
                        "stateDiff.storage",
                        f"{where}[{slot_hex}] = {value_hex}",
                        f"{where}[{slot_hex}] = {hex(actual)}",
                    )
                if pre_slots[slot] != value:
                    changed_slot = True
            unchanged = (
                existed
                and pre_nonce == nonce
                and pre_balance == balance
                and pre_code_hash == code_hash
                and not changed_slot
            )
            if unchanged:
                fail("stateDiff.unchanged", f"{where} listed", f"{where} did not change")

    # -- EVM blocks ---------------------------------------------------------------------------
    def _block(self, seq: int, b: dict[str, Any]) -> Boundary:
        number = _int(b["number"])
        header_rlp = _b(b["header"])
        header = decode_header(header_rlp)

        def fail(field: str, claimed: Any, recomputed: Any) -> NoReturn:
            _fail(seq, number, None, None, field, str(claimed), str(recomputed))

        at = self.boundary
        opened = self.open
        if number != at.block_number + 1 or header.number != number:
            fail("block.number", number, at.block_number + 1)
        if keccak(header_rlp) != _b(b["hash"]):
            fail("block.hash", b["hash"], _h(keccak(header_rlp)))
        if header.parent_hash != at.block_hash:
            fail("block.parentHash", _h(header.parent_hash), _h(at.block_hash))
        mini_blocks = opened.mini_blocks if opened is not None else 0
        if _int(b["miniBlockCount"]) != mini_blocks:
            fail("block.miniBlockCount", b["miniBlockCount"], hex(mini_blocks))
        root = at.state_root
        if opened is not None:
            claimed_root = self.executor.root_of(opened.claimed)
            root = self.executor.commit(opened.executed)
            if claimed_root != root:
                fail(
                    "stateDiff.missing",
                    "state diffs that leave out changes",
                    "changes not listed in any diff",
                )
        txs = opened.txs if opened is not None else []
        tx_hashes = [_h(keccak(raw)) for raw in txs]
        if b["transactions"] != tx_hashes:
            fail("block.transactions", len(b["transactions"]), len(tx_hashes))
        tx_root = trie_root(txs)
        if header.transactions_root != tx_root:
            fail("block.transactionsRoot", _h(header.transactions_root), _h(tx_root))
        receipts_root = trie_root(opened.receipts if opened is not None else [])
        if header.receipts_root != receipts_root:
            fail("block.receiptsRoot", _h(header.receipts_root), _h(receipts_root))
        gas, bloom = (opened.gas, opened.bloom) if opened is not None else (0, 0)
        if header.gas_used != gas:
            fail("block.gasUsed", header.gas_used, gas)
        if header.bloom != bloom:
            fail("block.logsBloom", hex(header.bloom), hex(bloom))
        if header.state_root != root:
            fail("block.stateRoot", _h(header.state_root), _h(root))
        block_hash = _b(b["hash"])
        self.open = None
        self.counts = replace(self.counts, blocks=self.counts.blocks + 1)
        return Boundary(
            next_seq=seq + 1,
            block_number=number,
            block_hash=block_hash,
            state_root=root,
            recent_hashes=(block_hash, *at.recent_hashes)[:MAX_RECENT_HASHES],
            last_mini_hash=self.last_mini_hash,
            counts=self.counts,
        )
