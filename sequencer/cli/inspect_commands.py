"""Commands that inspect a running node over its JSON-RPC: ``status``, ``block``, ``tx``, ``mempool``.

A failed call is one ``error:`` line on stderr and exit code 1; a bad argument exits 2.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from sequencer.cli.render import emit
from sequencer.cli.rpc_client import RpcCallError, call

DEFAULT_RPC = "http://127.0.0.1:8545"
rpc_option = click.option("--rpc", default=DEFAULT_RPC, show_default=True, help="The node's JSON-RPC URL.")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _call(rpc: str, method: str, params: list[Any]) -> Any:
    """One JSON-RPC call; a clear one-line error and exit code 1 on any failure."""
    try:
        return call(rpc, method, params)
    except RpcCallError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@click.command("status")
@rpc_option
@json_option
def status(rpc: str, as_json: bool) -> None:
    """Head, mini-block rate, EVM block time, throughput, mempool and followers of a running node.

    \b
    Examples:
      sequencer status
      sequencer status --rpc http://127.0.0.1:8545 --json
    """
    st = _call(rpc, "sequencer_status", [])
    rows = [
        ("head block", f"{st['headBlock']['number']} {st['headBlock']['hash']}"),
        ("head mini-block", st["headMiniBlock"]["number"] if st["headMiniBlock"] else "-"),
        ("healthy", st["healthy"]),
        (
            "mini-block interval p50/p99 (ms)",
            f"{st['miniBlockIntervalP50Ms']} / {st['miniBlockIntervalP99Ms']}",
        ),
        ("EVM block interval p50 (ms)", st["evmBlockIntervalP50Ms"]),
        ("EVM block seal p50/max (ms)", f"{st['evmBlockSealP50Ms']} / {st['evmBlockSealMaxMs']}"),
        ("state root p50/max (ms)", f"{st['stateRootP50Ms']} / {st['stateRootMaxMs']}"),
        (
            "included txs (tx/s since start)",
            f"{st['includedTxs']} ({st['includedTxs'] / max(st['uptimeS'], 1e-9):.1f})",
        ),
        ("mempool ready / queued", f"{st['mempool']['ready']} / {st['mempool']['queued']}"),
        ("feed followers (verifiers)", st.get("feedFollowers", 0)),
        ("subscriptions / filters", f"{st.get('subscriptions', 0)} / {st.get('filters', 0)}"),
        ("uptime (s)", st["uptimeS"]),
    ]
    settled = st.get("settlement")
    if settled is not None:
        batcher = settled["batcher"]
        rows += [
            (
                "L1 (chain, reachable, head)",
                f"{settled['l1ChainId']}, {settled['l1Reachable']}, {settled['l1Head']}",
            ),
            ("safe / finalized block", f"{settled['safeBlock']} / {settled['finalizedBlock']}"),
            ("unposted / unsafe blocks", f"{settled['unpostedBlocks']} / {settled['unsafeBlocks']}"),
            ("batcher balance (wei), alarm", f"{batcher['balanceWei']}, {batcher['alarm'] or '-'}"),
        ]
    emit(as_json, st, f"sequencer {st['clientVersion']} chain {st['chainId']}", rows)


@click.command("block")
@click.argument("number", default="latest")
@rpc_option
@json_option
def block(number: str, rpc: str, as_json: bool) -> None:
    """Show an EVM block by number (decimal or 0x-hex) or tag (latest, earliest...).

    \b
    Examples:
      sequencer block latest
      sequencer block 42 --json
    """
    tag = number if number in ("latest", "earliest", "pending", "safe", "finalized") else None
    if tag is None:
        try:
            tag = hex(int(number, 0))
        except ValueError:
            click.echo(f"error: not a block number or tag: {number!r}", err=True)
            sys.exit(2)
    b = _call(rpc, "eth_getBlockByNumber", [tag, False])
    if b is None:
        click.echo(f"error: block {number} not found", err=True)
        sys.exit(1)
    rows = [
        ("number", int(b["number"], 16)),
        ("hash", b["hash"]),
        ("parent", b["parentHash"]),
        ("timestamp", int(b["timestamp"], 16)),
        ("transactions", len(b["transactions"])),
        ("gas used / limit", f"{int(b['gasUsed'], 16)} / {int(b['gasLimit'], 16)}"),
        ("base fee (wei)", int(b["baseFeePerGas"], 16)),
        ("state root", b["stateRoot"]),
        ("transactions root", b["transactionsRoot"]),
        ("receipts root", b["receiptsRoot"]),
    ]
    emit(as_json, b, f"block {int(b['number'], 16)}", rows)


@click.command("tx")
@click.argument("tx_hash")
@rpc_option
@json_option
def tx(tx_hash: str, rpc: str, as_json: bool) -> None:
    """Show a transaction and its receipt by hash.

    \b
    Example:
      sequencer tx 0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060
    """
    t = _call(rpc, "eth_getTransactionByHash", [tx_hash])
    if t is None:
        click.echo(f"error: transaction {tx_hash} not found", err=True)
        sys.exit(1)
    r = _call(rpc, "eth_getTransactionReceipt", [tx_hash])
    rows = [
        ("hash", t["hash"]),
        ("from", t["from"]),
        ("to", t["to"] or "(contract creation)"),
        ("nonce", int(t["nonce"], 16)),
        ("value (wei)", int(t["value"], 16)),
        ("type", int(t["type"], 16)),
        ("block", int(t["blockNumber"], 16) if t["blockNumber"] else "pending"),
        ("status", ("success" if r["status"] == "0x1" else "reverted") if r else "pending"),
        ("gas used", int(r["gasUsed"], 16) if r else "-"),
        ("effective gas price", int(r["effectiveGasPrice"], 16) if r else "-"),
        ("contract created", (r["contractAddress"] or "-") if r else "-"),
        ("logs", len(r["logs"]) if r else "-"),
    ]
    emit(as_json, {"transaction": t, "receipt": r}, "transaction", rows)


@click.command("mempool")
@rpc_option
@json_option
def mempool(rpc: str, as_json: bool) -> None:
    """Pooled transactions: ready ones and ones waiting for a missing nonce, by sender.

    \b
    Example:
      sequencer mempool --json
    """
    st = _call(rpc, "txpool_status", [])
    content = _call(rpc, "txpool_content", [])
    rows: list[tuple[str, Any]] = [("ready", int(st["pending"], 16)), ("queued", int(st["queued"], 16))]
    for kind in ("pending", "queued"):
        for sender, by_nonce in content[kind].items():
            rows.append((f"{kind} {sender}", f"nonces {', '.join(sorted(by_nonce, key=int))}"))
    emit(as_json, {"status": st, "content": content}, "mempool", rows)
