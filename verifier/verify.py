"""Checking a feed, message by message (docs/feed.md): re-execute, compare, decide.

Every check that fails produces a :class:`Verdict` naming the EVM block, the mini-block, the
transaction index (when one is at fault), the field, the claimed and the recomputed value.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from verifier.execution import (
    Env,
    ExecutedTx,
    Executor,
    decode_header,
    encode_claimed_receipt,
    keccak,
    trie_root,
)
from verifier.store import Progress

MAX_RECENT_HASHES = 256


@dataclass(frozen=True, slots=True)
class Verdict:
    seq: int
    evm_block: int | None
    mini_block: int | None
    tx_index: int | None
    field: str
    claimed: str
    recomputed: str
    detected_at: float

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = "mismatch"
        return out


class Mismatch(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(f"{verdict.field}: claimed {verdict.claimed}, recomputed {verdict.recomputed}")
        self.verdict = verdict


def _h(b: bytes | None) -> str:
    return "0x" + b.hex() if b is not None else "null"


def _int(v: str) -> int:
    return int(v, 16)


def _b(v: str) -> bytes:
    return bytes.fromhex(v[2:])


class Checker:
    """Verifies a stream of feed messages against its own re-execution."""

    def __init__(
        self, executor: Executor, progress: Progress, shard: tuple[int, int] = (0, 1), replica: bool = False
    ) -> None:
        self.executor = executor
        self.progress = progress
        self.shard_index, self.shard_count = shard
        self.replica = replica
        self.root = _b(progress.state_root) if progress.state_root else b""
        self.last_mini_hash: bytes | None = None
        self._block_txs: list[bytes] = []
        self._block_receipts: list[bytes] = []
        self._block_gas = 0
        self._block_bloom = 0
        self._block_minis = 0
        self._state: Any = None  # the open EVM block's re-executed state
        self._claimed: Any = None  # the same block with the stream's claimed diffs applied

    # -- entry point --------------------------------------------------------------------------
    def check(self, message: dict[str, Any]) -> None:
        raw_seq = message.get("seq")
        seq: int = raw_seq if isinstance(raw_seq, int) else -1
        if message.get("version") != 1:
            self._fail(seq, None, None, None, "stream.version", str(message.get("version")), "1")
        if seq != self.progress.next_seq:
            self._fail(
                seq,
                None,
                None,
                None,
                "stream.seq",
                str(seq),
                str(self.progress.next_seq),
            )
        kind = message.get("type")
        try:
            if kind == "genesis":
                self._genesis(message["genesis"])
            elif kind == "miniBlock":
                self._mini_block(seq, message["miniBlock"])
            elif kind == "block":
                self._block(seq, message["block"])
            else:
                self._fail(seq, None, None, None, "stream.type", str(kind), "genesis|miniBlock|block")
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
            # a field missing or of the wrong shape: the stream is not what docs/feed.md says
            claimed = f"{type(exc).__name__}: {exc}"[:200]
            self._fail(seq, None, None, None, "stream.malformed", claimed, f"a well-formed {kind} message")
        self.progress.next_seq = seq + 1

    def _fail(
        self,
        seq: int,
        block: int | None,
        mini: int | None,
        tx: int | None,
        field: str,
        claimed: str,
        recomputed: str,
    ) -> None:
        raise Mismatch(Verdict(seq, block, mini, tx, field, claimed, recomputed, time.time()))

    # -- genesis ------------------------------------------------------------------------------
    def _genesis(self, g: dict[str, Any]) -> None:
        root = self.executor.genesis(g["alloc"], g.get("generatedAccounts"))
        header_rlp = _b(g["header"])
        header = decode_header(header_rlp)
        if keccak(header_rlp) != _b(g["hash"]):
            self._fail(0, 0, None, None, "genesis.hash", g["hash"], _h(keccak(header_rlp)))
        if header.state_root != root:
            self._fail(0, 0, None, None, "genesis.stateRoot", _h(header.state_root), _h(root))
        self.root = root
        self.progress.block_number = 0
        self.progress.block_hash = g["hash"]
        self.progress.state_root = _h(root)
        self.progress.recent_hashes = [g["hash"]]

    # -- mini-blocks --------------------------------------------------------------------------
    def _mini_block(self, seq: int, mb: dict[str, Any]) -> None:
        number, block = _int(mb["number"]), _int(mb["blockNumber"])
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

        def fail(field: str, claimed: Any, recomputed: Any, tx: int | None = None) -> None:
            self._fail(seq, block, number, tx, field, str(claimed), str(recomputed))

        if block != self.progress.block_number + 1 or environment.number != block:
            fail("miniBlock.blockNumber", block, self.progress.block_number + 1)
        if environment.parent_hash != _b(self.progress.block_hash):
            fail("miniBlock.env.parentHash", env["parentHash"], self.progress.block_hash)
        expected_parent = self.last_mini_hash or _b(self.progress.block_hash)
        if self.last_mini_hash is not None and _b(mb["parentHash"]) != expected_parent:
            fail("miniBlock.parentHash", mb["parentHash"], _h(expected_parent))
        raws = [_b(t) for t in mb["transactions"]]
        receipts = mb["receipts"]
        if len(receipts) != len(raws):
            fail("miniBlock.receipts", len(receipts), len(raws))
        if self._state is None:
            prev_hashes = [_b(h) for h in self.progress.recent_hashes]
            self._state = self.executor.block_state(self.root, environment, prev_hashes)
            self._claimed = self.executor.block_state(self.root, environment, prev_hashes)
        if self.executes(number):
            gas, encoded, bloom = self._execute_and_compare(fail, raws, receipts, mb)
            self.progress.verified_txs += len(raws)
        else:
            gas, encoded, bloom = self._trust_claims(fail, receipts, mb)
        self._block_txs.extend(raws)
        self._block_receipts.extend(encoded)
        self._block_gas += gas
        self._block_bloom |= bloom
        self._block_minis += 1
        self.last_mini_hash = _b(mb["hash"])
        self.progress.verified_mini_blocks += 1
        self.progress.last_mini_block_us = _int(mb["timestampUs"])

    def executes(self, number: int) -> bool:
        """Whether this verifier re-executes mini-block ``number`` (shards split them)."""
        return not self.replica and number % self.shard_count == self.shard_index

    def _execute_and_compare(
        self, fail: Any, raws: list[bytes], receipts: list[dict[str, Any]], mb: dict[str, Any]
    ) -> tuple[int, list[bytes], int]:
        pre = self._pre_values(mb["stateDiff"])
        executed = self.executor.execute(self._state, raws, self._block_gas)
        tx_offset = len(self._block_txs)
        for i, (ex, claimed) in enumerate(zip(executed, receipts, strict=False)):
            self._compare_receipt(fail, i, ex, claimed, tx_offset + i)
        gas = sum(ex.gas_used for ex in executed)
        if _int(mb["gasUsed"]) != gas:
            fail("miniBlock.gasUsed", mb["gasUsed"], hex(gas))
        self._compare_diff(fail, self._state, pre, mb["stateDiff"])
        self.executor.apply_diff(self._claimed, mb["stateDiff"])
        bloom = 0
        for ex in executed:
            bloom |= ex.bloom
        return gas, [ex.encoded_receipt for ex in executed], bloom

    def _trust_claims(
        self, fail: Any, receipts: list[dict[str, Any]], mb: dict[str, Any]
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
        self.executor.apply_diff(self._state, mb["stateDiff"])
        self.executor.apply_diff(self._claimed, mb["stateDiff"])
        return gas, encoded, bloom

    def _pre_values(
        self, diff: list[dict[str, Any]]
    ) -> dict[bytes, tuple[bool, int, int, bytes, dict[int, int]]]:
        """Each listed account's values before the mini-block runs (to catch no-op entries)."""
        state = self._state
        out = {}
        for acc in diff:
            address = _b(acc["address"])
            slots = {_int(s): state.get_storage(address, _int(s)) for s, _ in acc["storage"]}
            out[address] = (
                state.account_exists(address),
                state.get_nonce(address),
                state.get_balance(address),
                bytes(state.get_code_hash(address)),
                slots,
            )
        return out

    @staticmethod
    def _compare_receipt(fail: Any, i: int, ex: ExecutedTx, claimed: dict[str, Any], index: int) -> None:
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

    def _compare_diff(self, fail: Any, post: Any, pre: dict[bytes, Any], diff: list[dict[str, Any]]) -> None:
        addresses = [acc["address"] for acc in diff]
        if addresses != sorted(addresses) or len(set(addresses)) != len(addresses):
            fail("stateDiff.order", addresses, sorted(set(addresses)))
        for acc in diff:
            address = _b(acc["address"])
            where = acc["address"]
            if acc["deleted"]:
                if post.account_exists(address):
                    fail("stateDiff.deleted", f"{where} deleted", f"{where} exists")
                continue
            nonce, balance, code_hash = _int(acc["nonce"]), _int(acc["balance"]), _b(acc["codeHash"])
            if post.get_nonce(address) != nonce:
                fail("stateDiff.nonce", f"{where}: {nonce}", f"{where}: {post.get_nonce(address)}")
            if post.get_balance(address) != balance:
                fail("stateDiff.balance", f"{where}: {balance}", f"{where}: {post.get_balance(address)}")
            if bytes(post.get_code_hash(address)) != code_hash:
                fail(
                    "stateDiff.codeHash",
                    f"{where}: {_h(code_hash)}",
                    f"{where}: {_h(post.get_code_hash(address))}",
                )
            if acc.get("code") is not None and keccak(_b(acc["code"])) != code_hash:
                fail("stateDiff.code", f"{where}: code does not hash to codeHash", _h(code_hash))
            slots = [_int(s) for s, _ in acc["storage"]]
            if slots != sorted(slots):
                fail("stateDiff.storage.order", slots, sorted(slots))
            existed, pre_nonce, pre_balance, pre_code_hash, pre_slots = pre[address]
            changed_slot = False
            for slot_hex, value_hex in acc["storage"]:
                slot, value = _int(slot_hex), _int(value_hex)
                actual = post.get_storage(address, slot)
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
    def _block(self, seq: int, b: dict[str, Any]) -> None:
        number = _int(b["number"])
        header_rlp = _b(b["header"])
        header = decode_header(header_rlp)

        def fail(field: str, claimed: Any, recomputed: Any) -> None:
            self._fail(seq, number, None, None, field, str(claimed), str(recomputed))

        if number != self.progress.block_number + 1 or header.number != number:
            fail("block.number", number, self.progress.block_number + 1)
        if keccak(header_rlp) != _b(b["hash"]):
            fail("block.hash", b["hash"], _h(keccak(header_rlp)))
        if header.parent_hash != _b(self.progress.block_hash):
            fail("block.parentHash", _h(header.parent_hash), self.progress.block_hash)
        if _int(b["miniBlockCount"]) != self._block_minis:
            fail("block.miniBlockCount", b["miniBlockCount"], hex(self._block_minis))
        if self._state is not None:
            claimed_root = self.executor.root_of(self._claimed)
            actual_root = self.executor.commit(self._state)
            self._state = self._claimed = None
            if claimed_root != actual_root:
                fail(
                    "stateDiff.missing",
                    "state diffs that leave out changes",
                    "changes not listed in any diff",
                )
            self.root = actual_root
        tx_hashes = [_h(keccak(raw)) for raw in self._block_txs]
        if b["transactions"] != tx_hashes:
            fail("block.transactions", len(b["transactions"]), len(tx_hashes))
        tx_root = trie_root(self._block_txs)
        if header.transactions_root != tx_root:
            fail("block.transactionsRoot", _h(header.transactions_root), _h(tx_root))
        receipts_root = trie_root(self._block_receipts)
        if header.receipts_root != receipts_root:
            fail("block.receiptsRoot", _h(header.receipts_root), _h(receipts_root))
        if header.gas_used != self._block_gas:
            fail("block.gasUsed", header.gas_used, self._block_gas)
        if header.bloom != self._block_bloom:
            fail("block.logsBloom", hex(header.bloom), hex(self._block_bloom))
        if header.state_root != self.root:
            fail("block.stateRoot", _h(header.state_root), _h(self.root))
        self.progress.block_number = number
        self.progress.block_hash = b["hash"]
        self.progress.state_root = _h(self.root)
        self.progress.recent_hashes = [b["hash"], *self.progress.recent_hashes][:MAX_RECENT_HASHES]
        self.progress.verified_blocks += 1
        self._block_txs, self._block_receipts = [], []
        self._block_gas = self._block_bloom = self._block_minis = 0
