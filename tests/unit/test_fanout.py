"""Specification of the notification fan-out (sequencer.rpc.fanout): events reach their
listeners in the order they were posted, off the poster's call once the fan-out runs (at once
before), a failing listener does not stop the others, and audience work shares one time budget
per event-loop iteration."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sequencer.rpc.fanout import Fanout, Pacer


def test_before_it_runs_events_are_delivered_at_once() -> None:
    fanout, got = Fanout(), list[object]()
    post = fanout.listener(got.append)
    post(1)
    assert got == [1] and fanout.backlog == 0


@pytest.mark.asyncio
async def test_running_it_delivers_in_order_off_the_posters_call() -> None:
    fanout, got = Fanout(), list[object]()

    def chunks(n: int) -> Iterator[None]:
        for i in range(3):
            got.append((n, i))
            yield

    posts: list[Callable[[Any], None]] = [fanout.listener(got.append), fanout.listener(chunks)]
    task = asyncio.create_task(fanout.run())
    await asyncio.sleep(0)
    posts[0]("a")
    posts[1](7)
    posts[0]("b")
    assert got == [] and fanout.backlog == 3, "posting does no delivery work"
    while fanout.backlog:
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.001)
    assert got == ["a", (7, 0), (7, 1), (7, 2), "b"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_a_failing_listener_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    fanout, got = Fanout(), list[object]()

    def broken(_event: object) -> None:
        raise RuntimeError("bug")

    task = asyncio.create_task(fanout.run())
    await asyncio.sleep(0)
    fanout.listener(broken)(1)
    fanout.listener(got.append)(2)
    while fanout.backlog:
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.001)
    assert got == [2] and "notification listener failed" in caplog.text
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_the_audience_shares_one_budget_and_other_work_runs_between() -> None:
    """Three busy 'writers' each doing 1 ms steps: a ticker scheduled meanwhile runs at least
    every few budgets, not after all their work."""
    pacer = Pacer(budget_s=0.002)
    ticks: list[float] = []
    done = asyncio.Event()

    async def writer() -> None:
        for _ in range(60):
            await pacer.step()
            end = time.monotonic() + 0.001
            while time.monotonic() < end:
                pass

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0)

    tick_task = asyncio.create_task(ticker())
    await asyncio.gather(writer(), writer(), writer())
    done.set()
    await tick_task
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 20
    # one budget plus one step per writer per loop iteration: ~5 ms, not 180 ms of work in one go
    assert max(gaps) < 0.05


@pytest.mark.asyncio
async def test_once_its_slice_is_spent_the_audience_waits_for_a_seal_under_way() -> None:
    pacer, idle = Pacer(budget_s=0.001), asyncio.Event()
    pacer.defer_to(idle)  # clear: a block is being sealed
    steps = 0

    async def audience() -> None:
        nonlocal steps
        while True:
            await pacer.step()
            steps += 1
            spin = time.monotonic() + 0.0002  # a unit of audience work
            while time.monotonic() < spin:
                pass

    task = asyncio.create_task(audience())
    await asyncio.sleep(0.02)
    during_seal = steps  # the audience's first slice, then it waited
    idle.set()  # the seal is done
    await asyncio.sleep(0.02)
    after_seal = steps - during_seal
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert during_seal <= 10, "at most one slice of audience work while the seal ran"
    assert after_seal > 2 * during_seal, "the audience goes on at once when the seal ends"
