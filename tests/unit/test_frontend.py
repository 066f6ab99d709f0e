"""Specification of the front ends' pure parts: which bodies a front end answers itself, and the
port the executor holds for them (bound with SO_REUSEPORT, never listening, so the kernel gives
every connection to a listening front end)."""

from __future__ import annotations

import select
import socket
import time
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from sequencer.config import ConnectionLimits, RpcPolicy
from sequencer.frontend import supervisor
from sequencer.frontend.process import READY, answers_here
from sequencer.frontend.spec import FrontendSpec
from sequencer.frontend.supervisor import reserve_port
from sequencer.metrics import Metrics

LOCAL = {"eth_sendRawTransaction": None, "eth_getTransactionReceipt": None}


@pytest.mark.parametrize(
    ("payload", "here"),
    [
        ({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": ["0x00"]}, True),
        ([{"method": "eth_sendRawTransaction"}, {"method": "eth_getTransactionReceipt"}], True),
        ([{"method": "eth_sendRawTransaction"}, {"method": "eth_gasPrice"}], False),  # mixed: the executor's
        ({"method": "eth_call"}, False),
        ([], False),  # the executor answers an empty batch's error
        ([1, 2], False),
        ("eth_sendRawTransaction", False),
        ({"method": ["eth_sendRawTransaction"]}, False),
    ],
)
def test_a_body_is_answered_here_only_when_every_request_is_a_front_end_method(
    payload: object, here: bool
) -> None:
    assert answers_here(payload, LOCAL) is here


def _listener(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    s.settimeout(0)
    return s


def test_the_held_port_gives_every_connection_to_the_listening_front_ends() -> None:
    held = reserve_port("127.0.0.1", 0)
    port = held.getsockname()[1]
    fronts = [_listener(port), _listener(port)]
    accepted = [0, 0]
    try:
        for _ in range(40):
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                readable, _w, _x = select.select(fronts, [], [], 2)
                for front in readable:
                    conn, _addr = front.accept()
                    conn.close()
                    accepted[fronts.index(front)] += 1
        assert sum(accepted) == 40  # none was left queued on the held socket
        assert min(accepted) > 0  # the kernel spread them
        # and nobody else can take the port while it is held
        outsider = socket.socket()
        with pytest.raises(OSError):
            outsider.bind(("127.0.0.1", port))
        outsider.close()
    finally:
        for front in fronts:
            front.close()
        held.close()


def hang_first_time(spec: FrontendSpec, conn: Connection) -> None:
    """A front end's entry point whose first start hangs (as a spawn stuck at start-up did)."""
    marker = Path(spec.data_dir) / f"started-{spec.index}"
    if not marker.exists():
        marker.touch()
        time.sleep(60)
    conn.send(READY)
    time.sleep(60)  # "serving" until killed


@pytest.mark.asyncio
async def test_a_front_end_that_hangs_at_start_is_killed_and_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor, "frontend_main", hang_first_time)
    monkeypatch.setattr(supervisor, "START_TIMEOUT_S", 3.0)

    def spec(index: int) -> FrontendSpec:
        return FrontendSpec(
            index=index,
            data_dir=str(tmp_path),
            chain_id=1337,
            allow_unprotected=False,
            max_body=1024,
            max_batch=10,
            max_response_bytes=1024,
            limits=ConnectionLimits(),
            policy=RpcPolicy(),
        )

    fronts = supervisor.FrontEnds(1, spec, Metrics())
    try:
        await fronts.start("127.0.0.1", 0)
        assert fronts.alive() == 1
        assert (tmp_path / "started-0").exists()  # the first, hung start happened
    finally:
        await fronts.stop()
    assert fronts.alive() == 0
