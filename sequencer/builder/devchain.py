"""Dev-chain controls (devnet only): mining now, time travel, snapshots and reverts, state edits
and impersonated accounts, as anvil and hardhat have them.

Each control runs inside the producer (:meth:`BlockProducer.exclusive`), between two
production steps, and every change it makes is a chain event like any other, durable before it
is visible:

* **mining** seals the open EVM block now (``evm_mine``), or N blocks (``anvil_mine`` /
  ``hardhat_mine``, with an interval between their timestamps);
* **time**: the chain clock (:class:`~sequencer.chain.ChainClock`) gets an offset
  (``evm_increaseTime``) or a one-shot timestamp for the next block (``evm_setNextBlockTimestamp``,
  after which blocks continue from it). A block's timestamp is fixed when it opens, so the open
  block is opened again in the new time when it has no mini-blocks yet, else sealed first: the
  next transaction sees the new time;
* **state edits** (``anvil_setBalance``, ``setCode``, ``setNonce``, ``setStorageAt``) are a
  mini-block with no transactions whose state diff is the edit and whose ``dev_edits`` say so;
* **impersonated accounts** (``anvil_impersonateAccount``): their transactions execute at once
  in a mini-block of their own, whose ``dev_edits`` name the sender (the transaction carries a
  stand-in signature);
* **snapshots** (``evm_snapshot``) seal the open block if it has mini-blocks and remember the
  head block (and the clock); **revert** (``evm_revert``) rolls the chain back to it: a
  rollback record in the log, the index and the state back to that block, the pool emptied
  (transactions sent after the snapshot are gone, as in hardhat), and the snapshot and every
  later one forgotten. Snapshots live in memory: a restart forgets them (the chain keeps every
  edit and rollback).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from eth_hash.auto import keccak

from sequencer.builder.producer import BlockProducer
from sequencer.chain import Chain
from sequencer.errors import DevChainRefused
from sequencer.execution.transactions import impersonated_transaction
from sequencer.logs import fields
from sequencer.state import EMPTY_ACCOUNT, EMPTY_CODE_HASH
from sequencer.types import AccountDiff, DevEdit, StateDiff, UnsignedTx

log = logging.getLogger("sequencer.devchain")
MAX_MINE = 10_000
"""The most blocks one ``anvil_mine``/``hardhat_mine`` call seals."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A point ``evm_revert`` can go back to: a sealed EVM block, and the clock's offset then."""

    block_number: int
    block_hash: bytes
    clock_offset: int


class DevChain:
    """The dev-chain controls over one producer (see the module docstring)."""

    def __init__(self, producer: BlockProducer, chain: Chain) -> None:
        self.producer = producer
        self.chain = chain
        self.snapshots: dict[int, Snapshot] = {}
        self._next_snapshot = 1
        self.impersonated: set[bytes] = set()
        self.rollbacks = chain.store.rollbacks()

    # -- mining and time --------------------------------------------------------------------------
    async def mine(self, count: int = 1, interval: int | None = None, timestamp: int | None = None) -> int:
        """Seal ``count`` EVM blocks now (the open one first), ``interval`` seconds apart (else
        one second at least), the first at ``timestamp`` if given; answers the newest number."""
        if not 1 <= count <= MAX_MINE:
            raise DevChainRefused(f"cannot mine {count} blocks: 1 to {MAX_MINE} per call")

        async def run() -> int:
            producer, clock = self.producer, self.chain.clock
            if timestamp is not None:
                await self._set_open_time(timestamp)
            for i in range(count):
                if interval is not None and i < count - 1:
                    opened = self.chain.next_env().timestamp
                    clock.next_timestamp = opened + interval
                await producer.seal_now()
            last = self.chain.head.timestamp
            if last > clock.now():  # later blocks continue from the newest one
                clock.offset = last - int(time.time())
            return self.chain.head.number

        return await self.producer.exclusive(run)

    async def increase_time(self, seconds: int) -> int:
        """Move the chain clock ``seconds`` ahead; answers the total offset."""
        if seconds < 0:
            raise DevChainRefused("evm_increaseTime: the chain clock cannot go back")

        async def run() -> int:
            self.chain.clock.offset += seconds
            await self._retime_open_block()
            return self.chain.clock.offset

        return await self.producer.exclusive(run)

    async def set_next_timestamp(self, timestamp: int) -> None:
        """The next block opens at ``timestamp`` (and later ones continue from it)."""

        async def run() -> None:
            await self._set_open_time(timestamp)

        await self.producer.exclusive(run)

    async def _set_open_time(self, timestamp: int) -> None:
        chain = self.chain
        floor = chain.head.timestamp
        if self.producer.open_mini_count and chain.open_env is not None:  # it is sealed first
            floor = chain.open_env.timestamp
        if timestamp <= floor:
            raise DevChainRefused(
                f"timestamp {timestamp} is not after the previous block's timestamp {floor}"
            )
        chain.clock.next_timestamp = timestamp
        chain.clock.offset = timestamp - int(time.time())
        await self._retime_open_block()

    async def _retime_open_block(self) -> None:
        """The open block opens again in the clock's time; one with mini-blocks is sealed first."""
        if self.producer.open_mini_count:
            await self.producer.seal_now()
        else:
            self.producer.reopen_block()

    # -- snapshots ----------------------------------------------------------------------------------
    async def snapshot(self) -> int:
        """Remember the chain as it is now (sealing the open block if it has mini-blocks)."""

        async def run() -> int:
            if self.producer.open_mini_count:
                await self.producer.seal_now()
            head = self.chain.head
            snapshot_id = self._next_snapshot
            self._next_snapshot += 1
            self.snapshots[snapshot_id] = Snapshot(head.number, head.hash, self.chain.clock.offset)
            return snapshot_id

        return await self.producer.exclusive(run)

    async def revert(self, snapshot_id: int) -> bool:
        """Go back to a snapshot; False when there is no such snapshot (any more)."""

        async def run() -> bool:
            snapshot = self.snapshots.get(snapshot_id)
            if snapshot is None:
                return False
            safe = self.chain.safe_number
            if safe is not None and snapshot.block_number < safe:  # L1 already carries those blocks
                raise DevChainRefused(
                    f"evm_revert: block {snapshot.block_number} is below the safe block {safe} "
                    "(settled on L1): the chain cannot go back past it"
                )
            for later in [i for i in self.snapshots if i >= snapshot_id]:
                del self.snapshots[later]
            block = self.chain.get_block(snapshot.block_number)
            if block is None or block.hash != snapshot.block_hash:
                return False
            producer, chain = self.producer, self.chain
            chain.clock.offset = snapshot.clock_offset
            chain.clock.next_timestamp = None
            if chain.head.number == block.number and not producer.open_mini_count:
                dropped = producer.clear_pool()
                producer.reopen_block()
            else:
                self.rollbacks += 1
                dropped = await producer.roll_back(block, self.rollbacks)
            log.info(
                "evm_revert", extra=fields(snapshot=snapshot_id, block=block.number, dropped_txs=len(dropped))
            )
            return True

        return await self.producer.exclusive(run)

    # -- state edits --------------------------------------------------------------------------------
    async def edit(self, edit: DevEdit) -> None:
        """Apply one state edit as a mini-block (nothing is sealed when it changes nothing)."""

        async def run() -> None:
            world = self.chain.world
            account = world.get_account(edit.address) or EMPTY_ACCOUNT
            nonce, balance, code_hash = account.nonce, account.balance, account.code_hash
            code: bytes | None = None
            storage: tuple[tuple[int, int], ...] = ()
            if edit.kind == "balance":
                assert isinstance(edit.value, int)
                balance = edit.value
            elif edit.kind == "nonce":
                assert isinstance(edit.value, int)
                nonce = edit.value
                self.chain.nonce_lowered |= nonce < account.nonce
            elif edit.kind == "code":
                assert isinstance(edit.value, bytes)
                code_hash = keccak(edit.value)
                code = edit.value if edit.value else None
            else:
                assert isinstance(edit.value, int) and edit.slot is not None
                if world.get_storage(edit.address, edit.slot) != edit.value:
                    storage = ((edit.slot, edit.value),)
            unchanged = (nonce, balance, code_hash) == (account.nonce, account.balance, account.code_hash)
            if unchanged and not storage and world.get_account(edit.address) is not None:
                return
            if code is not None and code_hash == account.code_hash:
                code = None
            if code_hash == EMPTY_CODE_HASH:
                code = None
            diff = StateDiff((AccountDiff(edit.address, nonce, balance, code_hash, code, storage, False),))
            if await self.producer.seal_dev_mini_block((edit,), diff=diff) is None:
                raise DevChainRefused("the state edit could not be written: storage is failing")

        await self.producer.exclusive(run)

    # -- impersonation ------------------------------------------------------------------------------
    async def send_impersonated(self, tx: UnsignedTx, sender: bytes) -> bytes:
        """Execute a transaction of an impersonated account now, in its own mini-block; answers
        its hash (an invalid one raises its rule)."""
        if sender not in self.impersonated:
            raise DevChainRefused(f"0x{sender.hex()} is not impersonated (anvil_impersonateAccount)")
        signed = impersonated_transaction(tx, sender)

        async def run() -> bytes:
            edit = DevEdit("impersonated", sender, signed.hash)
            if await self.producer.seal_dev_mini_block((edit,), txs=(signed,)) is None:
                raise DevChainRefused("the transaction could not be written: storage is failing")
            return signed.hash

        return await self.producer.exclusive(run)
