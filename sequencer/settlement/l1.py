"""A small async JSON-RPC client for the L1, over web3.py's ``AsyncHTTPProvider``.

Answers come back as frozen values (:class:`L1Block`, :class:`L1Transaction`, :class:`L1Receipt`,
:class:`L1Log`). Two failures are told apart: :class:`L1Unreachable` (no answer: connection
refused, timeout, HTTP error; worth retrying after a :class:`Backoff`) and :class:`L1Error` (the
L1 answered with a JSON-RPC error: nonce too low, reverted...). Each request has a timeout, so a
frozen L1 costs a bounded wait.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
from web3 import AsyncHTTPProvider
from web3.types import RPCEndpoint

DEFAULT_TIMEOUT_S = 5.0


class L1Unreachable(Exception):
    """The L1 did not answer (connection refused, timeout, HTTP error)."""


class L1Error(Exception):
    """The L1 answered with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class L1Block:
    """An L1 block header's fields that settlement uses."""

    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    base_fee: int


@dataclass(frozen=True, slots=True)
class L1Transaction:
    """A transaction of an L1 block: who sent it where, with what calldata."""

    hash: bytes
    sender: bytes
    to: bytes | None
    input: bytes
    index: int


@dataclass(frozen=True, slots=True)
class L1Receipt:
    """Where and how an L1 transaction was included."""

    tx_hash: bytes
    block_number: int
    block_hash: bytes
    status: int
    gas_used: int
    effective_gas_price: int


@dataclass(frozen=True, slots=True)
class L1Log:
    """An event log on L1."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int


def _b(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def _i(value: str) -> int:
    return int(value, 16)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def block_of(data: dict[str, Any]) -> L1Block:
    """An :class:`L1Block` from a JSON-RPC block object."""
    return L1Block(
        _i(data["number"]),
        _b(data["hash"]),
        _b(data["parentHash"]),
        _i(data["timestamp"]),
        _i(data.get("baseFeePerGas") or "0x0"),
    )


class Backoff:
    """Exponential backoff with jitter: ``initial``, doubling up to ``maximum`` seconds."""

    def __init__(self, initial: float = 0.25, maximum: float = 5.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self._next = initial

    def next_delay(self) -> float:
        """The delay before the next attempt (and double the one after)."""
        delay = self._next
        self._next = min(self.maximum, self._next * 2)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        """An attempt succeeded: start over from ``initial``."""
        self._next = self.initial


class L1Client:
    """JSON-RPC calls to one L1 endpoint."""

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url
        self._provider = AsyncHTTPProvider(
            url,
            request_kwargs={"timeout": aiohttp.ClientTimeout(total=timeout_s)},
            exception_retry_configuration=None,
        )

    async def request(self, method: str, params: list[Any]) -> Any:
        """One call: its ``result``; :class:`L1Error` or :class:`L1Unreachable` otherwise."""
        try:
            answer = await self._provider.make_request(RPCEndpoint(method), params)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise L1Unreachable(f"{method}: {type(exc).__name__}: {exc}") from None
        except ValueError as exc:  # an answer that is not JSON-RPC
            raise L1Unreachable(f"{method}: bad answer: {exc}") from None
        response = cast(dict[str, Any], answer)
        error = response.get("error")
        if error is not None:
            if isinstance(error, dict):
                raise L1Error(method, int(error.get("code", 0)), str(error.get("message", error)))
            raise L1Error(method, 0, str(error))
        return response.get("result")

    async def close(self) -> None:
        """Close the HTTP sessions."""
        await self._provider.disconnect()

    # -- reads ------------------------------------------------------------------------------------
    async def chain_id(self) -> int:
        """``eth_chainId``."""
        return _i(await self.request("eth_chainId", []))

    async def block(self, which: int | str) -> L1Block | None:
        """A block by number or tag (``latest``, ``safe``, ``finalized``); ``None`` if there is none."""
        tag = hex(which) if isinstance(which, int) else which
        data = await self.request("eth_getBlockByNumber", [tag, False])
        return block_of(data) if data else None

    async def block_by_hash(self, block_hash: bytes) -> L1Block | None:
        """A block by hash; ``None`` if the L1 does not know it."""
        data = await self.request("eth_getBlockByHash", [_hex(block_hash), False])
        return block_of(data) if data else None

    async def block_with_transactions(self, number: int) -> tuple[L1Block, list[L1Transaction]] | None:
        """A block and its transactions; ``None`` if there is no such block (yet)."""
        data = await self.request("eth_getBlockByNumber", [hex(number), True])
        if not data:
            return None
        txs = [
            L1Transaction(
                _b(t["hash"]),
                _b(t["from"]),
                _b(t["to"]) if t.get("to") else None,
                _b(t.get("input") or t.get("data") or "0x"),
                _i(t["transactionIndex"]),
            )
            for t in data["transactions"]
        ]
        return block_of(data), txs

    async def balance(self, address: bytes, tag: str = "latest") -> int:
        """``eth_getBalance``."""
        return _i(await self.request("eth_getBalance", [_hex(address), tag]))

    async def nonce(self, address: bytes, tag: str = "latest") -> int:
        """``eth_getTransactionCount``."""
        return _i(await self.request("eth_getTransactionCount", [_hex(address), tag]))

    async def code(self, address: bytes) -> bytes:
        """``eth_getCode`` at ``latest``."""
        return _b(await self.request("eth_getCode", [_hex(address), "latest"]))

    async def call(self, to: bytes, data: bytes, tag: str = "latest") -> bytes:
        """``eth_call``: the return data."""
        return _b(await self.request("eth_call", [{"to": _hex(to), "data": _hex(data)}, tag]))

    async def receipt(self, tx_hash: bytes) -> L1Receipt | None:
        """A transaction's receipt; ``None`` while it is not included."""
        data = await self.request("eth_getTransactionReceipt", [_hex(tx_hash)])
        if not data or not data.get("blockHash"):
            return None
        return L1Receipt(
            _b(data["transactionHash"]),
            _i(data["blockNumber"]),
            _b(data["blockHash"]),
            _i(data.get("status") or "0x1"),
            _i(data["gasUsed"]),
            _i(data.get("effectiveGasPrice") or "0x0"),
        )

    async def logs(self, block_hash: bytes, addresses: list[bytes]) -> list[L1Log]:
        """The logs of one block emitted by ``addresses``."""
        data = await self.request(
            "eth_getLogs", [{"blockHash": _hex(block_hash), "address": [_hex(a) for a in addresses]}]
        )
        return [
            L1Log(
                _b(lg["address"]),
                tuple(_b(t) for t in lg["topics"]),
                _b(lg["data"]),
                _i(lg["blockNumber"]),
                _b(lg["blockHash"]),
                _b(lg["transactionHash"]),
                _i(lg["logIndex"]),
            )
            for lg in data
        ]

    async def max_priority_fee(self) -> int:
        """``eth_maxPriorityFeePerGas``."""
        return _i(await self.request("eth_maxPriorityFeePerGas", []))

    async def estimate_gas(self, sender: bytes, to: bytes, data: bytes) -> int:
        """``eth_estimateGas`` of a call."""
        return _i(
            await self.request(
                "eth_estimateGas", [{"from": _hex(sender), "to": _hex(to), "data": _hex(data)}]
            )
        )

    # -- writes -----------------------------------------------------------------------------------
    async def send_raw(self, raw: bytes) -> bytes:
        """``eth_sendRawTransaction``: the transaction hash."""
        return _b(await self.request("eth_sendRawTransaction", [_hex(raw)]))
