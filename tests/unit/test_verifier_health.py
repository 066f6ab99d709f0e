"""Specification of the follower's health (``verifier/health.py``): red within seconds, with one
``ALARM`` line, when the stream stops flowing — not connected, reconnecting in a loop, or
connected but silent while the sequencer's head is ahead — and green again when it flows."""

from __future__ import annotations

import logging

import pytest

from verifier.health import DOWN_AFTER_S, RECONNECT_LIMIT, STALL_AFTER_S, FeedHealth


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def alarms(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("ALARM")]


def test_a_flowing_stream_is_healthy(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    health = FeedHealth(clock)
    health.on_connected()
    for _ in range(20):
        clock.now += 0.5
        health.on_message()
        health.on_head(head_ahead=True)
        assert health.evaluate().ok
    assert alarms(caplog) == []


def test_a_feed_that_cannot_be_reached_is_down_within_seconds(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "verifier")
    health = FeedHealth(clock)
    health.on_disconnected("connection failed: refused")
    clock.now += DOWN_AFTER_S - 0.1
    assert health.evaluate().ok
    clock.now += 0.2
    state = health.evaluate()
    assert (state.ok, state.reason) == (False, "feed.down") and "refused" in state.detail
    health.evaluate()
    assert len(alarms(caplog)) == 1, "one alarm line per change to red"
    health.on_connected()
    assert health.evaluate().ok
    assert "feed healthy again" in caplog.text


def test_a_reconnect_loop_is_red_although_it_connects(clock: Clock) -> None:
    health = FeedHealth(clock)
    health.on_connected()
    for _ in range(RECONNECT_LIMIT):
        clock.now += 0.5
        health.on_disconnected("closed by the feed (4002: a gap)")
        health.on_connected()
    state = health.evaluate()
    assert (state.ok, state.reason) == (False, "feed.reconnecting") and "4002" in state.detail


def test_a_silent_connection_while_the_head_moves_on_is_stalled(clock: Clock) -> None:
    health = FeedHealth(clock)
    health.on_connected()
    health.on_head(head_ahead=True)
    clock.now += STALL_AFTER_S + 0.1
    assert health.evaluate().reason == "feed.stalled"
    health.on_message()
    assert health.evaluate().ok


def test_a_silent_connection_at_the_head_is_not_stalled(clock: Clock) -> None:
    """An idle chain sends nothing for a while: that is not a stall."""
    health = FeedHealth(clock)
    health.on_connected()
    health.on_head(head_ahead=False)
    clock.now += 60
    assert health.evaluate().ok
