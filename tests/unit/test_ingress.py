"""Specification of the ingress decoder: batches decoded in a worker process give exactly what
decoding inline gives, in order; small batches stay inline; a dead or hung worker loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account

from sequencer.errors import InvalidTransaction
from sequencer.mempool import ingress
from sequencer.mempool.ingress import IngressDecoder
from sequencer.types import SignedTx

CHAIN_ID = 1337
ACCOUNT = Account.from_key("0x" + "42" * 32)


def sign(nonce: int, **fields: Any) -> bytes:
    tx = {
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "to": "0x" + "11" * 20,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 0,
        "type": 2,
        **fields,
    }
    return bytes(ACCOUNT.sign_transaction(tx).raw_transaction)


def mixed_batch() -> list[bytes]:
    raws = [sign(n) for n in range(20)]
    raws[3] = b"\x02\xc0garbage"
    raws[7] = sign(7, chainId=1)  # wrong chain
    raws[11] = sign(11, gas=20_000)  # below intrinsic gas
    raws[15] = bytes(
        ACCOUNT.sign_transaction(
            {
                "chainId": CHAIN_ID,
                "nonce": 15,
                "to": "0x" + "22" * 20,
                "value": 0,
                "gas": 21_000,
                "gasPrice": 10**9,
            }
        ).raw_transaction
    )
    return raws


def summary(item: SignedTx | InvalidTransaction) -> tuple[Any, ...]:
    if isinstance(item, InvalidTransaction):
        return ("rejected", type(item).__name__, item.message)
    return (
        item.hash,
        item.sender,
        item.nonce,
        item.type,
        item.raw,
        bytes(item.engine_tx.sender),  # type: ignore[attr-defined]
        item.engine_tx.hash,  # type: ignore[attr-defined]
    )


@pytest.fixture
def decoder() -> Iterator[IngressDecoder]:
    d = IngressDecoder(CHAIN_ID, allow_unprotected=False, workers=1, min_batch=4)
    yield d
    d.close()


def offload(decoder: IngressDecoder, raws: list[bytes]) -> list[Any]:
    async def run() -> list[Any]:
        assert await decoder.ready()
        return await decoder.decode(raws)

    return asyncio.run(run())


def test_a_batch_decoded_in_the_worker_equals_decoding_inline(decoder: IngressDecoder) -> None:
    raws = mixed_batch()
    offloaded = offload(decoder, raws)
    assert decoder.offloaded == len(raws)  # it did run in the worker
    inline = decoder.decode_inline(raws)
    assert [summary(x) for x in offloaded] == [summary(x) for x in inline]
    assert sum(isinstance(x, InvalidTransaction) for x in offloaded) == 3
    assert isinstance(offloaded[15], SignedTx) and offloaded[15].type == 0


def test_batches_are_decoded_inline_until_the_worker_is_up(decoder: IngressDecoder) -> None:
    raws = mixed_batch()

    async def run() -> None:
        first = await decoder.decode(raws)  # starts the worker, does not wait for it
        assert decoder.offloaded == 0
        assert [summary(x) for x in first] == [summary(x) for x in decoder.decode_inline(raws)]
        assert await decoder.ready()
        await decoder.decode(raws)
        assert decoder.offloaded == len(raws)

    asyncio.run(run())


def test_a_small_batch_is_decoded_inline(decoder: IngressDecoder) -> None:
    result = asyncio.run(decoder.decode([sign(0), sign(1)]))
    assert decoder.offloaded == 0
    assert [r.nonce for r in result if isinstance(r, SignedTx)] == [0, 1]


def test_no_workers_means_everything_inline() -> None:
    d = IngressDecoder(CHAIN_ID, allow_unprotected=False, workers=0, min_batch=1)
    result = asyncio.run(d.decode(mixed_batch()))
    assert d.offloaded == 0
    assert len(result) == 20


def test_a_dead_worker_falls_back_inline_then_restarts(decoder: IngressDecoder) -> None:
    raws = mixed_batch()

    async def scenario() -> None:
        assert await decoder.ready()
        await decoder.decode(raws)
        pool = decoder._pool
        assert pool is not None
        for pid in list(pool._processes):
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.5)
        again = await decoder.decode(raws)  # the broken pool is noticed: decoded inline
        assert [summary(x) for x in again] == [summary(x) for x in decoder.decode_inline(raws)]
        assert decoder.offloaded == len(raws)  # only the first batch ran in a worker
        assert await decoder.ready()  # a new worker
        await decoder.decode(raws)
        assert decoder.offloaded == 2 * len(raws)

    asyncio.run(scenario())


def hang(parent_pid: int) -> None:
    """A worker initializer that never returns (a start that hangs)."""
    time.sleep(600)


@pytest.fixture
def hung(monkeypatch: pytest.MonkeyPatch) -> Iterator[IngressDecoder]:
    """A decoder whose worker starts hang (until ``monkeypatch.undo()``), 0.5 s start timeout."""
    monkeypatch.setattr(ingress, "watch_parent", hang)
    d = IngressDecoder(CHAIN_ID, allow_unprotected=False, workers=1, min_batch=4, start_timeout_s=0.5)
    yield d
    d.close()


async def starts_and_offloads(d: IngressDecoder, raws: list[bytes]) -> None:
    """A healthy start answers (it takes about a second: the timeout is raised) and decodes."""
    d.start_timeout_s = 60
    assert await d.ready()
    await d.decode(raws)
    assert d.offloaded == len(raws)


def test_a_worker_that_does_not_start_in_time_is_killed_and_started_again(
    hung: IngressDecoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    d, raws = hung, mixed_batch()

    async def scenario() -> None:
        assert not await d.ready()  # it did not answer within 0.5 s
        assert d.restarts == 1
        monkeypatch.undo()  # the next start is a healthy one
        await asyncio.sleep(0.6)
        inline = await d.decode(raws)  # the second hung start is noticed too: restarted again
        assert d.restarts == 2 and d.offloaded == 0
        assert [summary(x) for x in inline] == [summary(x) for x in d.decode_inline(raws)]
        await starts_and_offloads(d, raws)  # this time it starts

    asyncio.run(scenario())


def test_a_hung_start_is_restarted_by_its_timer_without_another_batch(
    hung: IngressDecoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    d, raws = hung, mixed_batch()

    async def until(condition: Any, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)

    async def scenario() -> None:
        await d.decode(raws)  # starts the worker (decoded inline meanwhile), then nothing more
        await until(lambda: d.restarts >= 2)  # restarted by its timer, again and again
        monkeypatch.undo()  # the next start is a healthy one
        restarts = d.restarts
        await until(lambda: d.restarts > restarts)
        await starts_and_offloads(d, raws)

    asyncio.run(scenario())
