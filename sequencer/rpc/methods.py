"""Ethereum JSON-RPC method handlers (the ``eth_``, ``net_`` and ``web3_`` namespaces).

Block tags (see README, "Block tags"):
  * state queries (balance, nonce, code, storage, call, estimateGas) with ``latest``,
    ``pending``, ``safe`` or ``finalized`` read the state after the newest sealed mini-block;
  * block queries with ``latest``/``safe``/``finalized``/``pending`` return the newest sealed EVM
    block; ``eth_blockNumber`` is its number;
  * a receipt is served as soon as its mini-block is durable; until its EVM block is sealed its
    ``blockHash`` (and its logs' ``blockHash``) is the zero hash, every other field is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_hash.auto import keccak

import sequencer
from sequencer.errors import (
    InvalidParams,
    NodeUnavailable,
    ReceiptTimeout,
    ResourceNotFound,
    RpcError,
    StorageError,
    TransactionNotProcessed,
)
from sequencer.execution.engine import CallRequest, call, estimate_gas
from sequencer.execution.flatdb import StateReader
from sequencer.execution.headers import next_base_fee
from sequencer.execution.transactions import SignedTx
from sequencer.mempool.admission import admit
from sequencer.mempool.ingress import Decoded
from sequencer.rpc.encoding import (
    BlockRef,
    d,
    params_list,
    parse_address,
    parse_block_ref,
    parse_bool,
    parse_data,
    parse_hash,
    parse_quantity,
    q,
)
from sequencer.rpc.formatting import format_block, format_log, format_receipt, format_transaction
from sequencer.storage.history import HistoricalState
from sequencer.types import BlockEnv, EvmBlock

if TYPE_CHECKING:
    from sequencer.node import Node

Handler = Callable[[list[Any]], Any]


@dataclass(frozen=True, slots=True)
class StateView:
    state: StateReader
    env: BlockEnv
    prev_hashes: list[bytes]


SYNC_DEFAULT_TIMEOUT_MS = 2_000  # EIP-7966's recommendation
SYNC_MAX_TIMEOUT_MS = 10_000
SUGGESTED_PRIORITY_FEE = 0  # first-come-first-served ordering: a tip buys no priority
DEFAULT_LOG_RANGE_CAP = 10_000
MAX_FEE_HISTORY_BLOCKS = 1024


def _py_evm_version() -> str:
    from importlib.metadata import version

    return version("py-evm")


CLIENT_VERSION = (
    f"{sequencer.CLIENT_NAME}/v{sequencer.__version__}/python{platform.python_version()}"
    f"/py-evm-{_py_evm_version()}"
)


class EthApi:
    def __init__(self, node: Node, log_range_cap: int = DEFAULT_LOG_RANGE_CAP) -> None:
        self.node = node
        self.chain = node.chain
        self.config = node.config
        self.log_range_cap = log_range_cap
        self._predecoded: dict[bytes, Decoded] = {}

    def methods(self) -> dict[str, Handler]:
        return {
            "web3_clientVersion": self.web3_client_version,
            "web3_sha3": self.web3_sha3,
            "net_version": self.net_version,
            "eth_chainId": self.eth_chain_id,
            "eth_blockNumber": self.eth_block_number,
            "eth_getBalance": self.eth_get_balance,
            "eth_getTransactionCount": self.eth_get_transaction_count,
            "eth_getCode": self.eth_get_code,
            "eth_getStorageAt": self.eth_get_storage_at,
            "eth_gasPrice": self.eth_gas_price,
            "eth_maxPriorityFeePerGas": self.eth_max_priority_fee_per_gas,
            "eth_feeHistory": self.eth_fee_history,
            "eth_estimateGas": self.eth_estimate_gas,
            "eth_call": self.eth_call,
            "eth_sendRawTransaction": self.eth_send_raw_transaction,
            "eth_sendRawTransactionSync": self.eth_send_raw_transaction_sync,
            "realtime_sendRawTransaction": self.eth_send_raw_transaction_sync,
            "eth_getTransactionByHash": self.eth_get_transaction_by_hash,
            "eth_getTransactionReceipt": self.eth_get_transaction_receipt,
            "eth_getRawTransactionByHash": self.eth_get_raw_transaction_by_hash,
            "eth_getBlockByNumber": self.eth_get_block_by_number,
            "eth_getBlockByHash": self.eth_get_block_by_hash,
            "eth_getLogs": self.eth_get_logs,
            "eth_getBlockTransactionCountByHash": self.eth_get_block_transaction_count_by_hash,
            "eth_getBlockTransactionCountByNumber": self.eth_get_block_transaction_count_by_number,
            "eth_getTransactionByBlockHashAndIndex": self.eth_get_transaction_by_block_hash_and_index,
            "eth_getTransactionByBlockNumberAndIndex": self.eth_get_transaction_by_block_number_and_index,
            "eth_getBlockReceipts": self.eth_get_block_receipts,
            "eth_syncing": self.eth_syncing,
            "eth_accounts": self.eth_accounts,
            "net_listening": self.net_listening,
            "net_peerCount": self.net_peer_count,
            "sequencer_status": self.sequencer_status,
        }

    # -- helpers ------------------------------------------------------------------------------
    def next_base_fee(self) -> int:
        env = self.chain.open_env
        if env is not None:
            return env.base_fee
        head = self.chain.head
        return next_base_fee(head.base_fee, head.gas_used, head.gas_limit, self.config.chain.base_fee_floor)

    def _state_at(self, ref: BlockRef) -> StateView:
        """The state a query reads, and the block context a call runs in.

        Tags read the newest state (after the newest sealed mini-block). A block number or hash
        reads the state after that EVM block, from the history tables; the open block's number
        reads the newest state.
        """
        chain = self.chain
        head = chain.head
        if ref.tag is not None and ref.tag != "earliest":
            return StateView(chain.world, self._call_env(), list(chain.prev_hashes))
        if ref.tag == "earliest":
            block: EvmBlock | None = chain.get_block(0)
        elif ref.hash is not None:
            block = chain.get_block_by_hash(ref.hash)
            if block is None:
                raise ResourceNotFound(f"block 0x{ref.hash.hex()} not found")
        else:
            assert ref.number is not None
            if ref.number == head.number + 1:
                return StateView(chain.world, self._call_env(), list(chain.prev_hashes))
            block = chain.get_block(ref.number)
            if block is None:
                raise ResourceNotFound(f"block {ref.number} not found: the newest block is {head.number}")
        assert block is not None
        seq = block.last_mini_block + 1
        env = BlockEnv(
            block.number,
            block.timestamp,
            block.parent_hash,
            block.base_fee,
            block.gas_limit,
            block.coinbase,
            block.prev_randao,
        )
        prev = [
            h
            for n in range(block.number - 1, max(-1, block.number - 257), -1)
            if (h := chain.store.get_block_hash(n)) is not None
        ]
        if seq == chain.head_mini_number + 1:
            return StateView(chain.world, env, prev)
        return StateView(HistoricalState(chain.store, seq), env, prev)

    def _resolve_block(self, ref: BlockRef) -> EvmBlock | None:
        chain = self.chain
        if ref.hash is not None:
            return chain.get_block_by_hash(ref.hash)
        if ref.tag is not None:
            return chain.get_block(0) if ref.tag == "earliest" else chain.head
        assert ref.number is not None
        return chain.get_block(ref.number)

    def _block_number_of(self, value: Any, name: str) -> int:
        ref = parse_block_ref(value, name)
        if ref.hash is not None:
            raise InvalidParams(f"invalid {name}: a block hash is not allowed here")
        if ref.tag is not None:
            return 0 if ref.tag == "earliest" else self.chain.head.number
        assert ref.number is not None
        return ref.number

    def _call_request(self, obj: Any) -> CallRequest:
        if not isinstance(obj, dict):
            raise InvalidParams("invalid call object: expected an object")
        sender = parse_address(obj["from"], "from") if obj.get("from") is not None else b"\x00" * 20
        to = parse_address(obj["to"], "to") if obj.get("to") is not None else None
        gas = parse_quantity(obj["gas"], "gas", 64) if obj.get("gas") is not None else 0
        gas_price = 0
        for key in ("gasPrice", "maxFeePerGas"):
            if obj.get(key) is not None:
                gas_price = parse_quantity(obj[key], key)
        value = parse_quantity(obj["value"], "value") if obj.get("value") is not None else 0
        data = b""
        for key in ("input", "data"):
            if obj.get(key) is not None:
                data = parse_data(obj[key], key)
                break
        return CallRequest(sender, to, gas, gas_price, value, data)

    # -- web3 / net ------------------------------------------------------------------------------
    def web3_client_version(self, params: list[Any]) -> str:
        params_list(params, "web3_clientVersion", 0, 0)
        return CLIENT_VERSION

    def web3_sha3(self, params: list[Any]) -> str:
        (data,) = params_list(params, "web3_sha3", 1, 1)
        return d(keccak(parse_data(data, "data")))

    def net_version(self, params: list[Any]) -> str:
        params_list(params, "net_version", 0, 0)
        return str(self.config.chain.chain_id)

    # -- chain --------------------------------------------------------------------------------
    def eth_chain_id(self, params: list[Any]) -> str:
        params_list(params, "eth_chainId", 0, 0)
        return q(self.config.chain.chain_id)

    def eth_block_number(self, params: list[Any]) -> str:
        params_list(params, "eth_blockNumber", 0, 0)
        return q(self.chain.head.number)

    # -- state --------------------------------------------------------------------------------
    def eth_get_balance(self, params: list[Any]) -> str:
        address, block = params_list(params, "eth_getBalance", 1, 2)
        addr = parse_address(address)
        account = self._state_at(parse_block_ref(block)).state.get_account(addr)
        return q(account.balance if account else 0)

    def eth_get_transaction_count(self, params: list[Any]) -> str:
        address, block = params_list(params, "eth_getTransactionCount", 1, 2)
        addr = parse_address(address)
        ref = parse_block_ref(block)
        if ref.tag == "pending":
            return q(self.node.pool.next_nonce(addr))
        account = self._state_at(ref).state.get_account(addr)
        return q(account.nonce if account else 0)

    def eth_get_code(self, params: list[Any]) -> str:
        address, block = params_list(params, "eth_getCode", 1, 2)
        addr = parse_address(address)
        return d(self._state_at(parse_block_ref(block)).state.get_code(addr))

    def eth_get_storage_at(self, params: list[Any]) -> str:
        address, slot, block = params_list(params, "eth_getStorageAt", 2, 3)
        addr = parse_address(address)
        if isinstance(slot, str) and len(slot) == 66:
            key = int(parse_hash(slot, "slot").hex(), 16)
        else:
            key = parse_quantity(slot, "slot")
        value = self._state_at(parse_block_ref(block)).state.get_storage(addr, key)
        return d(value.to_bytes(32, "big"))

    # -- fees ---------------------------------------------------------------------------------
    def eth_gas_price(self, params: list[Any]) -> str:
        params_list(params, "eth_gasPrice", 0, 0)
        return q(self.next_base_fee() + SUGGESTED_PRIORITY_FEE)

    def eth_max_priority_fee_per_gas(self, params: list[Any]) -> str:
        params_list(params, "eth_maxPriorityFeePerGas", 0, 0)
        return q(SUGGESTED_PRIORITY_FEE)

    def eth_fee_history(self, params: list[Any]) -> dict[str, Any]:
        count_raw, newest_raw, percentiles_raw = params_list(params, "eth_feeHistory", 2, 3)
        if isinstance(count_raw, int) and not isinstance(count_raw, bool):
            count = count_raw
        else:
            count = parse_quantity(count_raw, "blockCount", 64)
        if count < 1:
            raise InvalidParams("invalid blockCount: must be at least 1")
        count = min(count, MAX_FEE_HISTORY_BLOCKS)
        newest = min(self._block_number_of(newest_raw, "newestBlock"), self.chain.head.number)
        percentiles: list[float] = []
        if percentiles_raw is not None:
            if not isinstance(percentiles_raw, list) or not all(
                isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p <= 100
                for p in percentiles_raw
            ):
                raise InvalidParams("invalid rewardPercentiles: expected numbers between 0 and 100")
            if percentiles_raw != sorted(percentiles_raw):
                raise InvalidParams("invalid rewardPercentiles: must be in ascending order")
            percentiles = [float(p) for p in percentiles_raw]
        oldest = max(0, newest - count + 1)
        base_fees: list[str] = []
        ratios: list[float] = []
        rewards: list[list[str]] = []
        last: EvmBlock | None = None
        for n in range(oldest, newest + 1):
            block = self.chain.get_block(n)
            if block is None:
                break
            last = block
            base_fees.append(q(block.base_fee))
            ratios.append(block.gas_used / block.gas_limit if block.gas_limit else 0.0)
            if percentiles:
                rewards.append(self._block_rewards(block, percentiles))
        if last is not None:
            floor = self.config.chain.base_fee_floor
            base_fees.append(q(next_base_fee(last.base_fee, last.gas_used, last.gas_limit, floor)))
        result: dict[str, Any] = {
            "oldestBlock": q(oldest),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": ratios,
        }
        if percentiles:
            result["reward"] = rewards
        return result

    def _block_rewards(self, block: EvmBlock, percentiles: list[float]) -> list[str]:
        items = sorted(
            (r.effective_gas_price - block.base_fee, r.gas_used) for r, _ in self.chain.block_receipts(block)
        )
        if not items:
            return ["0x0"] * len(percentiles)
        total = sum(g for _, g in items)
        out = []
        for p in percentiles:
            threshold = total * p / 100
            acc = 0
            reward = items[-1][0]
            for tip, gas in items:
                acc += gas
                if acc >= threshold:
                    reward = tip
                    break
            out.append(q(max(reward, 0)))
        return out

    # -- execution ------------------------------------------------------------------------------
    def eth_call(self, params: list[Any]) -> str:
        obj, block, _overrides = params_list(params, "eth_call", 1, 3)
        request = self._call_request(obj)
        view = self._state_at(parse_block_ref(block))
        if request.gas == 0:
            request = CallRequest(
                request.sender, request.to, view.env.gas_limit, request.gas_price, request.value, request.data
            )
        return d(call(view.state, view.env, self.chain.chain_id, view.prev_hashes, request))

    def eth_estimate_gas(self, params: list[Any]) -> str:
        obj, block, _overrides = params_list(params, "eth_estimateGas", 1, 3)
        request = self._call_request(obj)
        view = self._state_at(parse_block_ref(block))
        gas = estimate_gas(
            view.state, view.env, self.chain.chain_id, view.prev_hashes, request, view.env.gas_limit
        )
        return q(gas)

    def _call_env(self) -> BlockEnv:
        env = self.chain.open_env
        if env is None:
            head = self.chain.head
            env = BlockEnv(
                head.number + 1,
                head.timestamp + 1,
                head.hash,
                self.next_base_fee(),
                head.gas_limit,
                self.config.chain.coinbase,
                head.hash,
            )
        return env

    async def prepare_batch(self, payload: list[Any]) -> Callable[[], None]:
        """Decode a batch's ``eth_sendRawTransaction`` payloads in one go (in the ingress worker
        when there are enough); each request then picks its result up in :meth:`_submit`."""
        raws = []
        for item in payload:
            if isinstance(item, dict) and item.get("method") == "eth_sendRawTransaction":
                params = item.get("params")
                if isinstance(params, list) and len(params) == 1:
                    with contextlib.suppress(RpcError):
                        raws.append(parse_data(params[0], "transaction"))
        ingress = self.node.ingress
        if len(raws) < ingress.min_batch or not ingress.enabled:
            return lambda: None
        decoded = await ingress.decode(raws)
        mine = [raw for raw in raws if raw not in self._predecoded]
        self._predecoded.update(zip(raws, decoded, strict=True))

        def cleanup() -> None:
            for raw in mine:
                self._predecoded.pop(raw, None)

        return cleanup

    async def _submit(self, raw: bytes) -> SignedTx:
        """Admit a transaction and journal it durably before it is acknowledged."""
        metrics = self.node.metrics
        metrics.tx_received.inc()
        try:
            self.node.check_accepting()
            known = keccak(raw) in self.node.pool
            tx = admit(
                raw,
                self.chain,
                self.node.pool,
                self.config.chain,
                self.next_base_fee(),
                self._predecoded.pop(raw, None),
            )
        except RpcError as exc:
            metrics.tx_rejected.labels(rejection_reason(exc.message)).inc()
            raise
        if not known and tx.hash in self.node.pool:
            try:
                await self.node.journal.persist(raw)
            except StorageError:
                metrics.tx_rejected.labels("storage unavailable").inc()
                raise NodeUnavailable("transaction not accepted: the node cannot write to disk") from None
            metrics.tx_accepted.inc()
            self.node.hub.on_pending(tx)
            self.node.filters.on_pending(tx.hash)
        return tx

    async def eth_send_raw_transaction(self, params: list[Any]) -> str:
        (raw_hex,) = params_list(params, "eth_sendRawTransaction", 1, 1)
        return d((await self._submit(parse_data(raw_hex, "transaction"))).hash)

    async def eth_send_raw_transaction_sync(self, params: list[Any]) -> dict[str, Any]:
        """EIP-7966: submit, then wait for the receipt (sealed mini-block) or the timeout.

        The waiter is registered before the transaction is submitted, so a receipt published in
        between is never missed. Errors: code 4 (timeout) and 5 (queued behind a missing nonce,
        or dropped at execution), both with the transaction hash as ``data``.
        """
        raw_hex, timeout_raw = params_list(params, "eth_sendRawTransactionSync", 1, 2)
        raw = parse_data(raw_hex, "transaction")
        timeout_ms = self._sync_timeout_ms(timeout_raw)
        tx_hash = keccak(raw)
        waiters = self.node.waiters
        fut = waiters.register(tx_hash)
        try:
            tx = await self._submit(raw)
            view = self.chain.find_receipt(tx.hash)
            if view is not None:
                return format_receipt(view.receipt, view.block_hash, view.env.timestamp)
            if not self.node.pool.is_ready(tx.hash):
                raise TransactionNotProcessed(
                    "The transaction was added to the mempool but wasn't processed: it waits for a "
                    f"missing nonce (next expected nonce {q(self.node.pool.next_nonce(tx.sender))})",
                    data=d(tx.hash),
                )
            try:
                outcome = await asyncio.wait_for(asyncio.shield(fut), timeout_ms / 1000)
            except TimeoutError:
                raise ReceiptTimeout(
                    f"The transaction was added to the mempool but wasn't processed in {timeout_ms} ms.",
                    data=d(tx.hash),
                ) from None
        finally:
            waiters.release(tx_hash, fut)
        if outcome.receipt is None:
            raise TransactionNotProcessed(
                f"The transaction was added to the mempool but wasn't processed: {outcome.rejection}",
                data=d(tx_hash),
            )
        view = self.chain.find_receipt(tx_hash)
        assert view is not None, "a published receipt is always indexed"
        return format_receipt(view.receipt, view.block_hash, view.env.timestamp)

    def _sync_timeout_ms(self, value: Any) -> int:
        """The client's timeout if valid, else the node default (EIP-7966), capped at the max."""
        if value is None:
            return SYNC_DEFAULT_TIMEOUT_MS
        if isinstance(value, int) and not isinstance(value, bool):
            ms = value
        elif isinstance(value, str):
            try:
                ms = parse_quantity(value, "timeoutMs", 64)
            except InvalidParams:
                return SYNC_DEFAULT_TIMEOUT_MS
        else:
            return SYNC_DEFAULT_TIMEOUT_MS
        if ms <= 0 or ms > SYNC_MAX_TIMEOUT_MS:
            return SYNC_DEFAULT_TIMEOUT_MS
        return ms

    # -- transactions and receipts ------------------------------------------------------------
    def eth_get_transaction_by_hash(self, params: list[Any]) -> dict[str, Any] | None:
        (h,) = params_list(params, "eth_getTransactionByHash", 1, 1)
        tx_hash = parse_hash(h, "transaction hash")
        view = self.chain.find_receipt(tx_hash)
        if view is not None:
            r = view.receipt
            return format_transaction(
                view.raw_tx,
                view.block_hash,
                r.block_number,
                r.tx_index,
                view.env.base_fee,
                view.env.timestamp,
            )
        pooled = self.node.pool.get(tx_hash)
        if pooled is not None:
            return format_transaction(pooled.raw, None, None, None, None)
        return None

    def eth_get_raw_transaction_by_hash(self, params: list[Any]) -> str | None:
        (h,) = params_list(params, "eth_getRawTransactionByHash", 1, 1)
        tx_hash = parse_hash(h, "transaction hash")
        view = self.chain.find_receipt(tx_hash)
        if view is not None:
            return d(view.raw_tx)
        pooled = self.node.pool.get(tx_hash)
        return d(pooled.raw) if pooled is not None else None

    def eth_get_transaction_receipt(self, params: list[Any]) -> dict[str, Any] | None:
        (h,) = params_list(params, "eth_getTransactionReceipt", 1, 1)
        view = self.chain.find_receipt(parse_hash(h, "transaction hash"))
        if view is None:
            return None
        return format_receipt(view.receipt, view.block_hash, view.env.timestamp)

    # -- blocks -------------------------------------------------------------------------------
    def _format(self, block: EvmBlock | None, full: bool) -> dict[str, Any] | None:
        if block is None:
            return None
        raw_txs = [raw for mb in self.chain.block_mini_blocks(block) for raw in mb.raw_txs]
        return format_block(block, raw_txs, full)

    def eth_get_block_by_number(self, params: list[Any]) -> dict[str, Any] | None:
        block, full = params_list(params, "eth_getBlockByNumber", 2, 2)
        ref = parse_block_ref(block)
        if ref.hash is not None:
            raise InvalidParams("eth_getBlockByNumber: expected a block number or tag")
        return self._format(self._resolve_block(ref), parse_bool(full, "hydrated"))

    def eth_get_block_by_hash(self, params: list[Any]) -> dict[str, Any] | None:
        h, full = params_list(params, "eth_getBlockByHash", 2, 2)
        return self._format(
            self.chain.get_block_by_hash(parse_hash(h, "block hash")), parse_bool(full, "hydrated")
        )

    def _block_param(self, value: Any, name: str) -> EvmBlock | None:
        ref = parse_block_ref(value, name)
        if ref.hash is not None:
            raise InvalidParams(f"invalid {name}: expected a block number or tag")
        return self._resolve_block(ref)

    def eth_get_block_transaction_count_by_hash(self, params: list[Any]) -> str | None:
        (h,) = params_list(params, "eth_getBlockTransactionCountByHash", 1, 1)
        block = self.chain.get_block_by_hash(parse_hash(h, "block hash"))
        return q(len(block.tx_hashes)) if block is not None else None

    def eth_get_block_transaction_count_by_number(self, params: list[Any]) -> str | None:
        (number,) = params_list(params, "eth_getBlockTransactionCountByNumber", 1, 1)
        block = self._block_param(number, "block")
        return q(len(block.tx_hashes)) if block is not None else None

    def _transaction_at(self, block: EvmBlock | None, index: int) -> dict[str, Any] | None:
        if block is None or index >= len(block.tx_hashes):
            return None
        raws = [raw for mb in self.chain.block_mini_blocks(block) for raw in mb.raw_txs]
        return format_transaction(
            raws[index], block.hash, block.number, index, block.base_fee, block.timestamp
        )

    def eth_get_transaction_by_block_hash_and_index(self, params: list[Any]) -> dict[str, Any] | None:
        h, index = params_list(params, "eth_getTransactionByBlockHashAndIndex", 2, 2)
        block = self.chain.get_block_by_hash(parse_hash(h, "block hash"))
        return self._transaction_at(block, parse_quantity(index, "index", 64))

    def eth_get_transaction_by_block_number_and_index(self, params: list[Any]) -> dict[str, Any] | None:
        number, index = params_list(params, "eth_getTransactionByBlockNumberAndIndex", 2, 2)
        block = self._block_param(number, "block")
        return self._transaction_at(block, parse_quantity(index, "index", 64))

    def eth_get_block_receipts(self, params: list[Any]) -> list[dict[str, Any]] | None:
        (block_ref,) = params_list(params, "eth_getBlockReceipts", 1, 1)
        if isinstance(block_ref, str) and len(block_ref) == 66:
            block = self.chain.get_block_by_hash(parse_hash(block_ref, "block hash"))
        else:
            block = self._resolve_block(parse_block_ref(block_ref, "block"))
        if block is None:
            return None
        return [
            format_receipt(r, block.hash, block.timestamp) for r, _raw in self.chain.block_receipts(block)
        ]

    def eth_syncing(self, params: list[Any]) -> bool:
        params_list(params, "eth_syncing", 0, 0)
        return False  # the sequencer produces the chain; it never syncs

    def eth_accounts(self, params: list[Any]) -> list[str]:
        params_list(params, "eth_accounts", 0, 0)
        return []  # the node holds no keys: sign in the wallet

    def net_listening(self, params: list[Any]) -> bool:
        params_list(params, "net_listening", 0, 0)
        return True

    def net_peer_count(self, params: list[Any]) -> str:
        params_list(params, "net_peerCount", 0, 0)
        return "0x0"  # a sequencer has followers on its feed, not devp2p peers

    # -- logs ---------------------------------------------------------------------------------
    def eth_get_logs(self, params: list[Any]) -> list[dict[str, Any]]:
        (flt,) = params_list(params, "eth_getLogs", 1, 1)
        if not isinstance(flt, dict):
            raise InvalidParams("eth_getLogs: filter must be an object")
        addresses = self._parse_addresses(flt.get("address"))
        topics = self._parse_topics(flt.get("topics"))
        if flt.get("blockHash") is not None:
            if flt.get("fromBlock") is not None or flt.get("toBlock") is not None:
                raise InvalidParams("eth_getLogs: blockHash cannot be combined with fromBlock/toBlock")
            block = self.chain.get_block_by_hash(parse_hash(flt["blockHash"], "blockHash"))
            if block is None:
                raise ResourceNotFound("unknown block")
            blocks = [block]
        else:
            head = self.chain.head.number
            start = self._block_number_of(flt.get("fromBlock"), "fromBlock")
            end = self._block_number_of(flt.get("toBlock"), "toBlock")
            if start > end:
                raise InvalidParams("eth_getLogs: invalid block range: fromBlock is after toBlock")
            if start > head:
                return []
            end = min(end, head)
            if end - start + 1 > self.log_range_cap:
                raise InvalidParams(
                    f"eth_getLogs: block range exceeds the cap of {self.log_range_cap} blocks"
                )
            blocks = [b for n in range(start, end + 1) if (b := self.chain.get_block(n)) is not None]
        out: list[dict[str, Any]] = []
        for block in blocks:
            if block.gas_used == 0:
                continue
            for receipt, _raw in self.chain.block_receipts(block):
                for i, log in enumerate(receipt.logs):
                    if addresses is not None and log.address not in addresses:
                        continue
                    if not _topics_match(log.topics, topics):
                        continue
                    out.append(
                        format_log(log, receipt, block.hash, receipt.first_log_index + i, block.timestamp)
                    )
        return out

    @staticmethod
    def _parse_addresses(value: Any) -> set[bytes] | None:
        if value is None or value == []:
            return None  # geth: an empty address list matches any address
        if isinstance(value, list):
            return {parse_address(v, "address") for v in value}
        return {parse_address(value, "address")}

    @staticmethod
    def _parse_topics(value: Any) -> list[set[bytes] | None]:
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > 4:
            raise InvalidParams("invalid topics: expected an array of at most 4 entries")
        out: list[set[bytes] | None] = []
        for entry in value:
            if entry is None:
                out.append(None)
            elif isinstance(entry, list):
                out.append({parse_hash(t, "topic") for t in entry} if entry else None)
            else:
                out.append({parse_hash(entry, "topic")})
        return out

    # -- node ---------------------------------------------------------------------------------
    def sequencer_status(self, params: list[Any]) -> dict[str, Any]:
        params_list(params, "sequencer_status", 0, 0)
        return self.node.status()


def rejection_reason(message: str) -> str:
    """A short, bounded metric label for a rejection message (geth's wording, before any detail)."""
    return message.split(":")[0].strip()[:48] or "unknown"


def _topics_match(log_topics: tuple[bytes, ...], wanted: list[set[bytes] | None]) -> bool:
    if len(wanted) > len(log_topics):
        return False
    return all(options is None or log_topics[i] in options for i, options in enumerate(wanted))
