"""The proposer: OP's version-0 output root of every ``output_interval_blocks``-th L2 block, on L1.

The root commits to the block's state root, its hash and the storage root of the bridge's
message passer at that block (read from the history tables: the withdrawals sent up to it).

Each step asks the L2OutputOracle which L2 block it expects next (``nextBlockNumber()``); once
that block is safe (its batches are included on L1, so anyone can check the root against what
they derive), it posts ``proposeL2Output(outputRoot, l2BlockNumber, l1BlockHash, l1BlockNumber)``
naming the current L1 head, so the proposal only lands on that L1 chain. One proposal is in
flight at a time; the oracle itself refuses a second one for the same block, so a restart can
neither skip an output nor post one twice. A proposal that waits longer than
``batcher.resubmit_after_s`` is replaced with bumped fees (same nonce).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from eth_account import Account
from eth_utils.address import to_checksum_address
from web3 import Web3

from sequencer.bridge.withdrawals import MESSAGE_PASSER
from sequencer.chain import Chain
from sequencer.logs import fields
from sequencer.metrics import SettlementMetrics
from sequencer.settlement.batcher import bumped
from sequencer.settlement.contracts import L2_OUTPUT_ORACLE, abi
from sequencer.settlement.keys import address_of
from sequencer.settlement.l1 import L1Client, L1Error
from sequencer.settlement.outputs import output_root_v0
from sequencer.settlement.settings import Settlement
from sequencer.storage.history import storage_trie_at

log = logging.getLogger("sequencer.settlement.proposer")

_ORACLE = Web3().eth.contract(abi=abi(L2_OUTPUT_ORACLE))
GAS_MARGIN = 1.25


@dataclass(frozen=True, slots=True)
class InFlight:
    """A proposal sent and not yet included."""

    l2_block: int
    nonce: int
    tx_hash: bytes
    max_fee: int
    max_tip: int
    calldata: bytes
    gas: int
    sent_at: float


def _selector_call(name: str, *args: object) -> bytes:
    return bytes.fromhex(_ORACLE.encode_abi(name, args=list(args))[2:])


class Proposer:
    """Posts output roots for safe L2 blocks (see the module docstring)."""

    def __init__(
        self,
        settlement: Settlement,
        chain: Chain,
        l1: L1Client,
        key: str,
        metrics: SettlementMetrics,
        safe_block: Callable[[], int],
        *,
        wrong_root_at: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``safe_block``: the L2 safe head (the batcher's); ``wrong_root_at``: the ``output-root``
        fire drill (devnet only): the first output at or after that L2 block gets a wrong root."""
        self.settlement = settlement
        self.chain = chain
        self.l1 = l1
        self.metrics = metrics
        self.address = address_of(key)
        self._account = Account.from_key(key)
        self.oracle = settlement.contracts.l2_output_oracle
        self._safe_block = safe_block
        self._wrong_root_at = wrong_root_at
        self._clock = clock
        self.in_flight: InFlight | None = None
        self.next_block: int | None = None
        """The L2 block the oracle expects next (as last read)."""
        self._stuck_since: float | None = None

    async def _read_uint(self, name: str) -> int:
        return int.from_bytes(await self.l1.call(self.oracle, _selector_call(name)), "big")

    async def step(self) -> None:
        """Check the proposal in flight, or post the next one when its block is safe."""
        if self.in_flight is not None:
            await self._follow_in_flight()
            if self.in_flight is not None:
                return
        latest_nonce = await self.l1.nonce(self.address, "latest")
        pending_nonce = await self.l1.nonce(self.address, "pending")
        now = self._clock()
        if pending_nonce > latest_nonce:
            # a proposal from before a restart is still in the L1 pool: let it land (or replace it)
            self._stuck_since = self._stuck_since or now
            if now - self._stuck_since < self.settlement.batcher.resubmit_after_s:
                return
        else:
            self._stuck_since = None
        self.next_block = await self._read_uint("nextBlockNumber")
        self.metrics.output_block.set(await self._read_uint("latestBlockNumber"))
        if self.next_block > self._safe_block():
            return
        block = self.chain.get_block(self.next_block)
        if block is None:
            return
        passer = storage_trie_at(self.chain.store, MESSAGE_PASSER, block.last_mini_block + 1)
        root = output_root_v0(block.state_root, block.hash, passer.root_hash())
        if self._wrong_root_at is not None and block.number >= self._wrong_root_at:
            log.warning(
                "dev fault output-root: the output gets a wrong root", extra=fields(l2_block=block.number)
            )
            root = root[:-1] + bytes([root[-1] ^ 0x01])
            self._wrong_root_at = None
        head = await self.l1.block("latest")
        assert head is not None
        calldata = _selector_call("proposeL2Output", root, block.number, head.hash, head.number)
        try:
            gas = await self.l1.estimate_gas(self.address, self.oracle, calldata)
        except L1Error as exc:
            log.warning("output not proposed", extra=fields(l2_block=block.number, reason=exc.message))
            return
        tip = await self.l1.max_priority_fee()
        fee = 2 * head.base_fee + tip
        if self._stuck_since is not None:  # replace the old pool transaction
            tip, fee = 2 * tip, 4 * head.base_fee + 2 * tip
        nonce = latest_nonce
        self.in_flight = await self._send(block.number, nonce, calldata, int(gas * GAS_MARGIN), fee, tip)
        log.info(
            "proposed output",
            extra=fields(
                l2_block=block.number,
                root="0x" + root.hex(),
                l1_block=head.number,
                tx="0x" + self.in_flight.tx_hash.hex(),
            ),
        )

    async def _send(
        self, l2_block: int, nonce: int, calldata: bytes, gas: int, fee: int, tip: int
    ) -> InFlight:
        tx = {
            "type": 2,
            "chainId": self.settlement.l1.chain_id,
            "nonce": nonce,
            "to": to_checksum_address(self.oracle),
            "value": 0,
            "data": calldata,
            "gas": gas,
            "maxFeePerGas": fee,
            "maxPriorityFeePerGas": tip,
        }
        signed = self._account.sign_transaction(tx)
        tx_hash = bytes(signed.hash)
        try:
            await self.l1.send_raw(bytes(signed.raw_transaction))
        except L1Error as exc:
            if "already known" not in exc.message.lower():
                raise
        return InFlight(l2_block, nonce, tx_hash, fee, tip, calldata, gas, self._clock())

    async def _follow_in_flight(self) -> None:
        flight = self.in_flight
        assert flight is not None
        receipt = await self.l1.receipt(flight.tx_hash)
        if receipt is not None:
            self.in_flight = None
            if receipt.status == 1:
                self.metrics.outputs_proposed.inc()
                self.metrics.output_block.set(flight.l2_block)
            else:
                log.warning(
                    "output proposal reverted on L1: proposing again",
                    extra=fields(l2_block=flight.l2_block, tx="0x" + flight.tx_hash.hex()),
                )
            return
        if await self.l1.nonce(self.address, "latest") > flight.nonce:
            self.in_flight = None  # another version of it landed; the oracle says what is next
            return
        if self._clock() - flight.sent_at >= self.settlement.batcher.resubmit_after_s:
            tip = bumped(flight.max_tip)
            fee = bumped(flight.max_fee)
            self.in_flight = await self._send(
                flight.l2_block, flight.nonce, flight.calldata, flight.gas, fee, tip
            )
            log.info("output proposal re-sent with bumped fees", extra=fields(l2_block=flight.l2_block))
