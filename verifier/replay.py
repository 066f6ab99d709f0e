"""Checking a feed, message by message (docs/feed.md): the chain's rules, re-execution, claims.

:class:`Replay` starts at an EVM block boundary (``verifier/checkpoint.py``) over the flat state
of that boundary (``verifier/state.py``) and takes typed messages (``verifier/wire.py``) in order.

* ``genesis``: its hash must be the one the verifier's own config makes (``verifier/genesis.py``).
* Every ``miniBlock``, re-executed here or not: its EVM block, number, index and parent hash
  continue the chain; its hash is recomputed; its signature recovers to the configured signer;
  its environment follows the rules from the parent block (``verifier/rules.py``) and is the same
  for every mini-block of the block; its receipts are consistent (transaction hashes, indexes,
  gas, log indexes) and its state diff canonical. A mini-block this verifier owns (``Mode``) is
  then re-executed on the state its predecessors' diffs made (``verifier/execution.py``) and its
  receipts and diff compared exactly (``verifier/compare.py``). Then its claimed diff is applied.
* Every ``block``: its header hashes to its hash, links to the parent, names the environment its
  mini-blocks ran in, leaves Prague's unused fields empty, and its transaction list, roots, gas,
  bloom and state root are what the mini-blocks add up to; its signature is checked. When it
  verifies it becomes the new :attr:`Replay.boundary`.

Every failed check raises :class:`~verifier.verdict.Mismatch` naming the EVM block, the
mini-block, the transaction index (when one is at fault), the field, the claimed and the
recomputed value; nothing has been applied then. With signatures, the mismatch carries the
signed mini-block headers it contradicts (evidence). :meth:`Replay.adopt` takes a failed
message's claims instead (``--on-mismatch continue``), or, for a mini-block re-executed here,
what re-execution found: later checks then go on from the true state, so each lie is found
once, not again at every later message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from sequencer.config import ChainConfig
from sequencer.logs import fields
from verifier.checkpoint import MAX_RECENT_HASHES, Boundary
from verifier.commitments import index_root, keccak, mini_block_hash, receipt_encoding, signing_hash
from verifier.compare import Finding, compare_diff, compare_receipts
from verifier.execution import ExecutedMiniBlock, MiniBlockExecutor
from verifier.header import Header, decode_header
from verifier.open_block import ENV_FIELDS, OpenBlock, SignedHeader, env_value, executed_receipt
from verifier.rules import MAX_FUTURE_S, empty_field_problems, env_problems, header_env
from verifier.signatures import signature_problem
from verifier.state import EMPTY_CODE_HASH, FlatState
from verifier.verdict import Mismatch, Verdict
from verifier.wire import (
    STATE_EDIT_KINDS,
    AccountChange,
    BlockMessage,
    DevEditClaim,
    GenesisMessage,
    Malformed,
    Message,
    MiniBlockMessage,
    impersonated_senders,
)
from verifier.workers import WorkerPool

log = logging.getLogger("verifier")


@dataclass(frozen=True, slots=True)
class Mode:
    """Which mini-blocks this verifier re-executes: those whose number mod ``shard_count`` is
    ``shard_index``; none as a ``replica`` (it applies the claimed diffs and checks the rest)."""

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


def _h(b: bytes | None) -> str:
    return "0x" + b.hex() if b is not None else "null"


class Replay:
    """Verifies a stream of typed feed messages from ``boundary`` over ``state``."""

    def __init__(
        self,
        chain: ChainConfig,
        state: FlatState,
        boundary: Boundary,
        mode: Mode = EVERYTHING,
        *,
        genesis: Header | None = None,
        clock: Callable[[], float] = time.time,
        pool: WorkerPool | None = None,
    ) -> None:
        """``genesis``: the verifier's own genesis header (needed until genesis is verified)."""
        self.chain = chain
        self.state = state
        self.mode = mode
        self.boundary = boundary
        """The last verified EVM block boundary (where a restart resumes)."""
        self.next_seq = boundary.next_seq
        """The in-memory cursor: the position of the next message to check."""
        self.counts = boundary.counts
        """Verified counts so far, mini-blocks of the open block included."""
        self.open: OpenBlock | None = None
        self.genesis = genesis
        self._clock = clock
        self._executed: tuple[int, ExecutedMiniBlock] | None = None
        self.pool = pool
        self._handed_out: dict[int, tuple[int, int, tuple[SignedHeader, ...]]] = {}

    # -- entry points -------------------------------------------------------------------------
    def check(self, message: Message, raw: bytes = b"") -> Boundary | None:
        """Check the next message (its ``seq`` is the cursor's); the new boundary when it was a
        verified ``genesis`` or ``block``. Raises :class:`Mismatch`, applying nothing. With worker
        processes, ``raw`` (the message's text) is what they are handed; their findings come
        back through :meth:`late_findings`."""
        if isinstance(message, MiniBlockMessage):
            self._mini_block(message, adopt=False, raw=raw)
            reached = None
        elif isinstance(message, BlockMessage):
            reached = self._block(message, adopt=False)
        else:
            reached = self._genesis(message)
        self.next_seq = message.seq + 1
        return reached

    def adopt(self, message: Message) -> Boundary | None:
        """Take a message that failed its checks as claimed, and move on (continue mode)."""
        reached = None
        if isinstance(message, MiniBlockMessage) and self.boundary.started:
            self._mini_block(message, adopt=True)
        elif isinstance(message, BlockMessage) and self.boundary.started:
            reached = self._block(message, adopt=True)
        self.next_seq = message.seq + 1
        return reached

    def _fail(
        self,
        seq: int,
        block: int | None,
        mini: int | None,
        finding: Finding,
        evidence: tuple[SignedHeader, ...] = (),
    ) -> NoReturn:
        verdict = Verdict(
            seq,
            block,
            mini,
            finding.tx_index,
            finding.field,
            finding.claimed,
            finding.recomputed,
            self._clock(),
        )
        raise Mismatch(verdict, tuple(e.as_dict() for e in evidence))

    # -- genesis ------------------------------------------------------------------------------
    def _genesis(self, g: GenesisMessage) -> Boundary:
        def fail(name: str, claimed: str, recomputed: str) -> NoReturn:
            self._fail(g.seq, 0, None, Finding(name, claimed, recomputed))

        if g.seq != 0 or self.boundary.started:
            fail("stream.type", f"genesis at seq {g.seq}", "genesis only at seq 0, before anything else")
        own = self.genesis
        assert own is not None, "the genesis state is built from the config before genesis is checked"
        if self.chain.genesis_timestamp is None:
            # a devnet config that leaves the launch time to the sequencer's data dir: the one
            # field taken from the stream (everything else is still the config's)
            try:
                claimed = decode_header(g.header, "genesis.header")
            except Malformed as exc:
                fail("genesis.header", str(exc), "a Prague header")
            own = self.genesis = replace(own, timestamp=claimed.timestamp)
            log.warning(
                "chain.genesis_timestamp is not set: the genesis timestamp is the feed's",
                extra=fields(timestamp=claimed.timestamp),
            )
        own_hash = keccak(own.encode())
        if g.hash != own_hash:
            fail("genesis.hash", _h(g.hash), _h(own_hash) + " (the genesis of this verifier's config)")
        if keccak(g.header) != own_hash:
            fail("genesis.header", "a header that does not hash to the genesis hash", _h(own_hash))
        if self.pool is not None:
            self.pool.end_block(own_hash)
        self.boundary = Boundary(
            next_seq=1,
            block_number=0,
            block_hash=own_hash,
            state_root=own.state_root,
            recent_hashes=(own_hash,),
            last_mini_hash=own_hash,
            counts=self.counts,
            next_mini_block=0,
            timestamp=own.timestamp,
            base_fee=own.base_fee,
            gas_used=0,
            gas_limit=own.gas_limit,
        )
        return self.boundary

    # -- mini-blocks --------------------------------------------------------------------------
    def late_findings(self, *, wait_all: bool = False) -> list[Mismatch]:
        """What the worker processes found in mini-blocks already checked here (``wait_all``:
        once every mini-block handed out came back: at an EVM block boundary)."""
        if self.pool is None:
            return []
        out = []
        for result in self.pool.results(wait_all=wait_all):
            block, number, evidence = self._handed_out.pop(result.seq)
            if result.finding is None:
                self.counts = replace(self.counts, txs=self.counts.txs + result.txs)
                continue
            f = result.finding
            verdict = Verdict(
                result.seq, block, number, f.tx_index, f.field, f.claimed, f.recomputed, self._clock()
            )
            out.append(Mismatch(verdict, tuple(e.as_dict() for e in evidence)))
        return out

    def _mini_block(self, mb: MiniBlockMessage, *, adopt: bool, raw: bytes = b"") -> None:
        at, opened = self.boundary, self.open
        expected_number = at.next_mini_block + (opened.mini_blocks if opened is not None else 0)

        evidence: list[SignedHeader] = []  # this mini-block's signed header, once checked

        def fail(name: str, claimed: Any, recomputed: Any, tx: int | None = None) -> NoReturn:
            finding = Finding(name, str(claimed), str(recomputed), tx)
            self._fail(mb.seq, at.block_number + 1, expected_number, finding, tuple(evidence))

        encodings: list[bytes] = []
        blooms = 0
        for r in mb.receipts:
            encoding, bloom = receipt_encoding(r)
            encodings.append(encoding)
            blooms |= bloom
        signed_header: SignedHeader | None = None
        if not adopt:
            if not at.started:
                fail("stream.type", f"miniBlock at seq {mb.seq}", "genesis first")
            self._check_position(mb, fail, expected_number)
            signed_header = self._check_signature(mb, encodings, fail)
            if signed_header is not None:
                evidence.append(signed_header)
            self._check_env(mb, fail)
            self._check_receipts(mb, fail)
            self._check_diff_form(mb, fail)
            if mb.dev_edits:
                self._check_dev_edits(mb, fail)
        state_edits = bool(mb.dev_edits) and mb.dev_edits[0].kind in STATE_EDIT_KINDS
        if opened is None:
            opened = self.open = OpenBlock(
                mb.env, expected_number, at.last_mini_hash or b"", at.counts.last_mini_block_us
            )
        executed = 0
        diff = mb.state_diff
        gas_used = mb.gas_used
        execute = not adopt and not state_edits and self.mode.executes(expected_number)
        # this process re-executes everything, or with worker processes its own share (before
        # the workers see the mini-block, so a mismatch applies nothing anywhere)
        here = execute and (self.pool is None or self.pool.executes_here(expected_number))
        if here:
            finding = self._reexecute(opened, mb)
            if finding is not None:
                fail(finding.field, finding.claimed, finding.recomputed, finding.tx_index)
            executed = len(mb.transactions)
        if self.pool is not None:
            self.pool.submit(mb.seq, expected_number, raw, execute and not here)
            if execute and not here:
                self._handed_out[mb.seq] = (at.block_number + 1, expected_number, tuple(evidence))
        elif adopt and self._executed is not None and self._executed[0] == mb.seq:
            # the stream lied about a mini-block re-executed here: go on from what it really did
            result = self._executed[1]
            diff = result.diff
            if all(tx.valid for tx in result.txs):
                encodings, blooms = [], 0
                for tx in result.txs:
                    encoding, bloom = receipt_encoding(executed_receipt(tx))
                    encodings.append(encoding)
                    blooms |= bloom
                gas_used = sum(tx.gas_used for tx in result.txs)
        self._executed = None
        self.state.apply(diff)
        opened.txs.extend(mb.transactions)
        opened.tx_hashes.extend(keccak(raw) for raw in mb.transactions)
        opened.receipts.extend(encodings)
        opened.gas += gas_used
        opened.bloom |= blooms
        opened.logs += sum(len(r.logs) for r in mb.receipts)
        opened.mini_blocks += 1
        opened.last_hash = mb.hash
        opened.last_us = mb.timestamp_us
        opened.executed_txs += executed
        if signed_header is not None:
            opened.signed.append(signed_header)
        self.counts = replace(
            self.counts,
            mini_blocks=self.counts.mini_blocks + 1,
            txs=self.counts.txs + executed,
            last_mini_block_us=mb.timestamp_us,
        )

    def _check_position(
        self, mb: MiniBlockMessage, fail: Callable[..., NoReturn], expected_number: int
    ) -> None:
        at, opened = self.boundary, self.open
        if mb.block_number != at.block_number + 1:
            fail("miniBlock.blockNumber", mb.block_number, at.block_number + 1)
        if mb.number != expected_number:
            fail("miniBlock.number", mb.number, expected_number)
        index = opened.mini_blocks if opened is not None else 0
        if mb.index != index:
            fail("miniBlock.index", mb.index, index)
        parent = opened.last_hash if opened is not None else at.last_mini_hash
        if mb.parent_hash != parent:
            fail("miniBlock.parentHash", _h(mb.parent_hash), _h(parent))
        recomputed = mini_block_hash(mb)
        if mb.hash != recomputed:
            fail("miniBlock.hash", _h(mb.hash), _h(recomputed))
        previous_us = opened.last_us if opened is not None else at.counts.last_mini_block_us
        if mb.timestamp_us < previous_us:
            fail("miniBlock.timestampUs", mb.timestamp_us, f">= {previous_us} (the previous mini-block's)")
        latest_us = int((self._clock() + MAX_FUTURE_S) * 1_000_000)
        if mb.timestamp_us > latest_us:
            fail("miniBlock.timestampUs", mb.timestamp_us, f"<= {latest_us} (now + {MAX_FUTURE_S} s)")

    def _check_signature(
        self, mb: MiniBlockMessage, encodings: list[bytes], fail: Callable[..., NoReturn]
    ) -> SignedHeader | None:
        schedule = self.chain.sequencer_signers
        if not schedule:
            return None
        digest = signing_hash(mb, encodings)
        problem = signature_problem(schedule, mb.block_number, digest, mb.signature)
        if problem is not None:
            fail("miniBlock.signature", *problem)
        if mb.signature is None:
            return None
        return SignedHeader(
            mb.number,
            mb.block_number,
            mb.index,
            mb.env.timestamp,
            mb.timestamp_us,
            mb.gas_used,
            index_root(mb.transactions),
            index_root(encodings),
            mb.hash,
            mb.signature,
        )

    def _check_env(self, mb: MiniBlockMessage, fail: Callable[..., NoReturn]) -> None:
        opened = self.open
        if opened is None:
            for name, claimed, expected in env_problems(
                mb.env, self.boundary.parent, self.chain, self._clock()
            ):
                fail(f"miniBlock.env.{name}", claimed, expected)
        elif mb.env != opened.env:
            for name in ENV_FIELDS:
                claimed, expected = env_value(mb.env, name), env_value(opened.env, name)
                if claimed != expected:
                    fail(f"miniBlock.env.{name}", claimed, f"{expected} (the block's environment)")

    def _check_receipts(self, mb: MiniBlockMessage, fail: Callable[..., NoReturn]) -> None:
        opened = self.open
        if len(mb.receipts) != len(mb.transactions):
            fail(
                "miniBlock.receipts",
                f"{len(mb.receipts)} receipts",
                f"{len(mb.transactions)} (one per transaction)",
            )
        tx_index = len(opened.txs) if opened is not None else 0
        cumulative = opened.gas if opened is not None else 0
        log_index = opened.logs if opened is not None else 0
        for i, (raw, r) in enumerate(zip(mb.transactions, mb.receipts, strict=True)):
            tx_hash = keccak(raw)
            if r.tx_hash != tx_hash:
                fail("receipt.transactionHash", _h(r.tx_hash), _h(tx_hash), i)
            if r.tx_index != tx_index + i:
                fail("receipt.transactionIndex", hex(r.tx_index), hex(tx_index + i), i)
            if r.gas_used != r.cumulative_gas_used - cumulative:
                fail("receipt.gasUsed", hex(r.gas_used), hex(r.cumulative_gas_used - cumulative), i)
            cumulative = r.cumulative_gas_used
            if r.first_log_index != log_index:
                fail("receipt.firstLogIndex", hex(r.first_log_index), hex(log_index), i)
            log_index += len(r.logs)
        total = sum(r.gas_used for r in mb.receipts)
        if mb.gas_used != total:
            fail("miniBlock.gasUsed", hex(mb.gas_used), hex(total))
        if cumulative > mb.env.gas_limit:
            fail(
                "miniBlock.gasUsed",
                f"{cumulative} used in the block",
                f"<= {mb.env.gas_limit} (the gas limit)",
            )

    def _check_diff_form(self, mb: MiniBlockMessage, fail: Callable[..., NoReturn]) -> None:
        state = self.state
        previous = b""
        for a in mb.state_diff:
            where = _h(a.address)
            if a.address <= previous:
                fail("stateDiff.order", where, f"an address above {_h(previous)} (ascending, each once)")
            previous = a.address
            if a.deleted:
                if (a.nonce, a.balance, a.code_hash, a.code, a.storage) != (0, 0, EMPTY_CODE_HASH, None, ()):
                    fail("stateDiff.deleted", f"{where}: deleted with values", f"{where}: deleted, all zero")
                continue
            slot = -1
            for s, _v in a.storage:
                if s <= slot:
                    fail("stateDiff.storage.order", f"{where} slot {hex(s)}", f"a slot above {hex(slot)}")
                slot = s
            if a.code is not None:
                if keccak(a.code) != a.code_hash:
                    fail("stateDiff.code", f"{where}: code that does not hash to codeHash", _h(a.code_hash))
            elif a.code_hash not in state.code:
                pre = state.get_account(a.address)
                if pre is None or pre.code_hash != a.code_hash:
                    fail(
                        "stateDiff.code", f"{where}: codeHash {_h(a.code_hash)} without its code", "the code"
                    )

    def _check_dev_edits(self, mb: MiniBlockMessage, fail: Callable[..., NoReturn]) -> None:
        """A devnet's dev edits: refused on any other chain; either one ``impersonated`` edit per
        transaction (naming it, in order), or state edits alone, with no transaction, whose state
        diff is exactly what they make (the accounts they name, holding their values)."""
        edits = mb.dev_edits
        if not self.chain.devnet:
            fail("miniBlock.devEdits", f"{len(edits)} dev edits", "none (the chain is not a devnet)")
        impersonated = [e for e in edits if e.kind == "impersonated"]
        if impersonated:
            hashes = [keccak(raw) for raw in mb.transactions]
            if len(impersonated) != len(edits) or [e.value for e in edits] != hashes:
                fail(
                    "miniBlock.devEdits",
                    f"{len(impersonated)} impersonated senders in {len(edits)} edits",
                    f"one impersonated sender per transaction, in order ({len(hashes)})",
                )
            return
        if mb.transactions:
            fail("miniBlock.devEdits", f"state edits with {len(mb.transactions)} transactions", "none")
        named = {e.address for e in edits}
        diff = {a.address: a for a in mb.state_diff}
        for a in mb.state_diff:
            if a.address not in named:
                fail("stateDiff.devEdits", _h(a.address), "only the accounts the state edits name")
        final: dict[tuple[str, bytes, int | None], DevEditClaim] = {}
        for e in edits:  # the last edit of a field is the one that holds
            final[(e.kind, e.address, e.slot)] = e
        for e in final.values():
            after = self._after(diff.get(e.address), e)
            expected = keccak(e.value) if isinstance(e.value, bytes) else e.value
            if after != expected:
                claimed = _h(after) if isinstance(after, bytes) else hex(after)
                want = _h(expected) if isinstance(expected, bytes) else hex(expected)
                fail("stateDiff.devEdits", f"{_h(e.address)} {e.kind} {claimed}", want)

    def _after(self, change: AccountChange | None, e: DevEditClaim) -> int | bytes:
        """The value the edited field has once ``change`` (the account's diff entry) applies."""
        pre = self.state.get_account(e.address)
        if change is not None and change.deleted:
            return EMPTY_CODE_HASH if e.kind == "code" else 0
        if e.kind == "storage":
            assert e.slot is not None
            written = dict(change.storage) if change is not None else {}
            return written[e.slot] if e.slot in written else self.state.get_storage(e.address, e.slot)
        source = change if change is not None else pre
        if e.kind == "code":
            return source.code_hash if source is not None else EMPTY_CODE_HASH
        if source is None:
            return 0
        return source.balance if e.kind == "balance" else source.nonce

    def _reexecute(self, opened: OpenBlock, mb: MiniBlockMessage) -> Finding | None:
        if opened.executor is None:
            opened.executor = MiniBlockExecutor(
                self.state,
                self.chain.chain_id,
                opened.env,
                self.boundary.recent_hashes,
                allow_unprotected=self.chain.allow_unprotected_txs,
            )
        result = opened.executor.run(mb.transactions, opened.gas, impersonated_senders(mb))
        self._executed = (mb.seq, result)
        return compare_receipts(result.txs, mb.receipts) or compare_diff(result.diff, mb.state_diff)

    # -- EVM blocks ---------------------------------------------------------------------------
    def _block(self, b: BlockMessage, *, adopt: bool) -> Boundary:
        at, opened = self.boundary, self.open

        def fail(name: str, claimed: Any, recomputed: Any) -> NoReturn:
            evidence = tuple(opened.signed) if opened is not None else ()
            self._fail(
                b.seq, at.block_number + 1, None, Finding(name, str(claimed), str(recomputed)), evidence
            )

        header = decode_header(b.header, "block.header")
        root = self.state.root()
        if not adopt:
            if not at.started:
                fail("stream.type", f"block at seq {b.seq}", "genesis first")
            for name, claimed, expected in self._block_problems(b, header, root):
                fail(f"block.{name}", claimed, expected)
        self.open = None
        self.counts = replace(self.counts, blocks=self.counts.blocks + 1)
        block_hash = keccak(b.header)
        if self.pool is not None:
            self.pool.end_block(block_hash)
        self.boundary = Boundary(
            next_seq=b.seq + 1,
            block_number=at.block_number + 1,
            block_hash=block_hash,
            state_root=root,
            recent_hashes=(block_hash, *at.recent_hashes)[:MAX_RECENT_HASHES],
            last_mini_hash=opened.last_hash if opened is not None else self._first_parent(at, block_hash),
            counts=self.counts,
            next_mini_block=at.next_mini_block + (opened.mini_blocks if opened is not None else 0),
            timestamp=header.timestamp,
            base_fee=header.base_fee,
            gas_used=header.gas_used,
            gas_limit=header.gas_limit,
        )
        return self.boundary

    @staticmethod
    def _first_parent(at: Boundary, block_hash: bytes) -> bytes | None:
        """Before the chain's first mini-block, the next one's parent is the newest block."""
        return block_hash if at.next_mini_block == 0 else at.last_mini_hash

    def _block_problems(self, b: BlockMessage, header: Header, root: bytes) -> Iterator[tuple[str, str, str]]:
        at, opened = self.boundary, self.open
        number = at.block_number + 1
        if b.number != number:
            yield "number", str(b.number), str(number)
        block_hash = keccak(b.header)
        if b.hash != block_hash:
            yield "hash", _h(b.hash), _h(block_hash)
        if header.number != number:
            yield "number", f"header number {header.number}", str(number)
        if header.parent_hash != at.block_hash:
            yield "parentHash", _h(header.parent_hash), _h(at.block_hash)
        if b.first_mini_block != at.next_mini_block:
            yield "firstMiniBlock", str(b.first_mini_block), str(at.next_mini_block)
        count = opened.mini_blocks if opened is not None else 0
        if b.mini_block_count != count:
            yield "miniBlockCount", str(b.mini_block_count), str(count)
        tx_hashes = opened.tx_hashes if opened is not None else []
        if list(b.transactions) != tx_hashes:
            yield (
                "transactions",
                f"{len(b.transactions)} hashes",
                f"{len(tx_hashes)} (the mini-blocks' transactions)",
            )
        env = header_env(header)
        if opened is not None:
            for name in ENV_FIELDS:
                claimed, expected = env_value(env, name), env_value(opened.env, name)
                if claimed != expected:
                    yield name, claimed, f"{expected} (its mini-blocks' environment)"
        else:
            yield from env_problems(env, at.parent, self.chain, self._clock())
        yield from empty_field_problems(header)
        gas, bloom = (opened.gas, opened.bloom) if opened is not None else (0, 0)
        if header.gas_used != gas:
            yield "gasUsed", str(header.gas_used), str(gas)
        if header.gas_used > header.gas_limit:
            yield "gasUsed", str(header.gas_used), f"<= {header.gas_limit} (the gas limit)"
        if int.from_bytes(header.logs_bloom, "big") != bloom:
            yield "logsBloom", _h(header.logs_bloom), _h(bloom.to_bytes(256, "big"))
        tx_root = index_root(opened.txs if opened is not None else [])
        if header.transactions_root != tx_root:
            yield "transactionsRoot", _h(header.transactions_root), _h(tx_root)
        receipts_root = index_root(opened.receipts if opened is not None else [])
        if header.receipts_root != receipts_root:
            yield "receiptsRoot", _h(header.receipts_root), _h(receipts_root)
        if header.state_root != root:
            yield "stateRoot", _h(header.state_root), _h(root)
        if self.chain.sequencer_signers:
            problem = signature_problem(self.chain.sequencer_signers, number, block_hash, b.signature)
            if problem is not None:
                yield "signature", *problem
