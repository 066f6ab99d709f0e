"""A malicious proxy between a sequencer's feed and its followers: a real process that edits
messages in flight, the way an attacker in the network path would (it has no signing key).

    python -m tests.support.proxy --upstream ws://127.0.0.1:8546 [--port 0]

prints ``proxy=ws://HOST:PORT`` and serves ``ws://HOST:PORT/EDIT/?from=N`` (and
``/EDIT/status``): every connection is forwarded to the upstream feed from the same position,
with the edit :data:`EDITS` names applied to the first message it targets on that connection
(the same one on every connection, so a reconnecting follower meets the same lie). The proxy
is a careful attacker: what it edits in a mini-block it re-hashes, and it re-links the later
mini-blocks to the new hash (it cannot re-sign). ``/honest/`` passes everything through.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

import aiohttp
import rlp
from aiohttp import web
from eth_hash.auto import keccak

from sequencer.feed.wire import wire_mini_block_hash

Message = dict[str, Any]
Edit = Callable[[Message], "Message | str | None"]
"""Returns the message to send (edited in place or not), raw text to send instead, or None to
drop it."""

HEADER_FIELDS = {"coinbase": 2, "gasLimit": 9, "timestamp": 11, "baseFee": 15}
OVERSIZE_BYTES = 2 * 1024 * 1024


def _q(n: int) -> str:
    return hex(n)


def _first_mini_with(predicate: Callable[[dict[str, Any]], bool]) -> Callable[[Message], bool]:
    def target(m: Message) -> bool:
        return (
            m["type"] == "miniBlock" and int(m["miniBlock"]["number"], 16) >= 1 and predicate(m["miniBlock"])
        )

    return target


def _rehash(mb: dict[str, Any]) -> None:
    mb["hash"] = "0x" + wire_mini_block_hash(mb).hex()


def genesis_extra_account(m: Message) -> Message:
    g = m["genesis"]
    g["alloc"].append(
        {"address": "0x" + "be" * 20, "balance": _q(10**27), "nonce": "0x0", "code": "0x", "storage": []}
    )
    fields = rlp.decode(bytes.fromhex(g["header"][2:]))
    fields[3] = keccak(b"a state holding a billion ether more")
    g["header"] = "0x" + rlp.encode(fields).hex()
    g["hash"] = "0x" + keccak(rlp.encode(fields)).hex()
    return m


def header_field(name: str, value: bytes) -> Edit:
    def edit(m: Message) -> Message:
        block = m["block"]
        fields = rlp.decode(bytes.fromhex(block["header"][2:]))
        fields[HEADER_FIELDS[name]] = value
        header = rlp.encode(fields)
        block["header"] = "0x" + header.hex()
        block["hash"] = "0x" + keccak(header).hex()
        return m

    return edit


def env_base_fee(m: Message) -> Message:
    mb = m["miniBlock"]
    mb["env"]["baseFee"] = _q(int(mb["env"]["baseFee"], 16) + 1)
    _rehash(mb)
    return m


def thousand_ether(m: Message) -> Message:
    mb = m["miniBlock"]
    entry = next(a for a in mb["stateDiff"] if not a["deleted"])
    entry["balance"] = _q(int(entry["balance"], 16) + 1000 * 10**18)
    _rehash(mb)
    return m


def relabel(m: Message) -> Message:
    mb = m["miniBlock"]
    mb["number"] = _q(int(mb["number"], 16) + 1)
    _rehash(mb)
    return m


def flip_hash(m: Message) -> Message:
    mb = m["miniBlock"]
    mb["hash"] = mb["hash"][:-1] + ("0" if mb["hash"][-1] != "0" else "1")
    return m


def strip_signature(m: Message) -> Message:
    m["miniBlock"].pop("signature", None)
    return m


def oversize(m: Message) -> Message:
    m["miniBlock"]["padding"] = "0x" + "00" * OVERSIZE_BYTES
    return m


def not_json(_m: Message) -> str:
    return '{"version": 2, "seq": oops'


def json_list(_m: Message) -> str:
    return "[1, 2, 3]"


def bad_header(m: Message) -> Message:
    m["block"]["header"] = "0xc0"
    return m


def drop(_m: Message) -> None:
    return None


def any_block(m: Message) -> bool:
    return m["type"] == "block" and int(m["block"]["number"], 16) >= 2


def with_txs(mb: dict[str, Any]) -> bool:
    return bool(mb["transactions"])


def anything(_mb: dict[str, Any]) -> bool:
    return True


EDITS: dict[str, tuple[Callable[[Message], bool], Edit]] = {
    "genesis": (lambda m: m["type"] == "genesis", genesis_extra_account),
    "header-coinbase": (any_block, header_field("coinbase", b"\xde" * 19 + b"\xad")),
    "header-gas-limit": (any_block, header_field("gasLimit", b"\x01")),
    "header-timestamp": (any_block, header_field("timestamp", b"\x01")),
    "header-base-fee": (any_block, header_field("baseFee", b"")),
    "env-base-fee": (_first_mini_with(anything), env_base_fee),
    "thousand-ether": (_first_mini_with(with_txs), thousand_ether),
    "relabel-number": (_first_mini_with(anything), relabel),
    "mini-block-hash": (_first_mini_with(anything), flip_hash),
    "strip-signature": (_first_mini_with(anything), strip_signature),
    "oversize": (_first_mini_with(anything), oversize),
    "not-json": (_first_mini_with(anything), not_json),
    "json-list": (_first_mini_with(anything), json_list),
    "bad-header": (any_block, bad_header),
    "drop": (_first_mini_with(anything), drop),
}


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read what the follower sends (nothing but pings and its close)."""
    async for _msg in ws:
        pass


def make_app(upstream: str) -> web.Application:
    """The proxy: ``/EDIT/?from=N`` (WebSocket) and ``/EDIT/status``."""
    app = web.Application()
    upstream = upstream.rstrip("/")
    status_url = upstream.replace("ws://", "http://", 1) + "/status"

    async def follow(request: web.Request) -> web.StreamResponse:
        name = request.match_info["edit"]
        target, edit = EDITS.get(name, (lambda _m: False, drop))
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        start = request.query.get("from", "0")
        session: aiohttp.ClientSession = request.app["session"]
        edited = False
        renamed: dict[str, str] = {}  # hash -> the hash the proxy gave it: the chain is re-linked
        client_gone = asyncio.create_task(_drain(ws))
        async with session.ws_connect(f"{upstream}/?from={start}", max_msg_size=0) as up:
            async for msg in up:
                if msg.type != aiohttp.WSMsgType.TEXT or client_gone.done():
                    break
                message = json.loads(msg.data)
                out: Message | str | None = message
                original = message.get("miniBlock", {}).get("hash")
                if message["type"] == "miniBlock" and message["miniBlock"]["parentHash"] in renamed:
                    message["miniBlock"]["parentHash"] = renamed[message["miniBlock"]["parentHash"]]
                    _rehash(message["miniBlock"])
                if not edited and target(message):
                    edited = True  # the first target on each connection
                    out = edit(message)
                if (
                    isinstance(out, dict)
                    and out["type"] == "miniBlock"
                    and out["miniBlock"]["hash"] != original
                ):
                    renamed[original] = out["miniBlock"]["hash"]
                if out is None:
                    continue
                try:
                    await ws.send_str(out if isinstance(out, str) else json.dumps(out))
                except (ConnectionError, RuntimeError):
                    break
        client_gone.cancel()
        await ws.close()
        return ws

    async def status(_request: web.Request) -> web.Response:
        session: aiohttp.ClientSession = _request.app["session"]
        async with session.get(status_url) as r:
            return web.json_response(await r.json())

    async def open_session(app: web.Application) -> None:
        app["session"] = aiohttp.ClientSession()

    async def close_session(app: web.Application) -> None:
        await app["session"].close()

    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)
    app.router.add_get("/{edit}/status", status)
    app.router.add_get("/{edit}/", follow)
    return app


async def serve(upstream: str, port: int) -> None:
    runner = web.AppRunner(make_app(upstream), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, bound = runner.addresses[0][:2]
    print(f"proxy=ws://{host}:{bound}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    try:
        asyncio.run(serve(args.upstream, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()


# -- for tests: the proxy as a subprocess ------------------------------------------------------------
class ProxyProc:
    """A running proxy process and its address."""

    def __init__(self, proc: Any, url: str) -> None:
        self.proc = proc
        self.url = url

    def feed(self, edit: str) -> str:
        """The feed URL a follower uses to get ``edit`` applied."""
        return f"{self.url}/{edit}"

    def stop(self) -> None:
        """Stop the process."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_proxy(upstream: str) -> ProxyProc:
    """Start the proxy in front of ``upstream`` and wait for its address."""
    import subprocess

    from tests.support.daemon import ROOT, die_with_parent

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.proxy", "--upstream", upstream],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        preexec_fn=die_with_parent,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    assert line.startswith("proxy="), f"the proxy did not start: {line!r}"
    return ProxyProc(proc, line.removeprefix("proxy="))
