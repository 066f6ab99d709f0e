"""The ``sequencer`` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

import sequencer
from sequencer.config import (
    ADMIN_TOKEN_MIN_LENGTH,
    EVM_BLOCK_INTERVAL_MS_RANGE,
    MAX_GENERATED_ACCOUNTS,
    MINI_BLOCK_INTERVAL_MS_RANGE,
    PORT_RANGE,
    Override,
    load_config,
)
from sequencer.devfault import KINDS, DevFault, parse_dev_fault
from sequencer.errors import ConfigError, StorageError
from sequencer.logs import LEVELS, setup_logging

DEFAULT_CONFIG = "configs/devnet.toml"


def _dev_fault_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> DevFault | None:
    if value is None:
        return None
    try:
        return parse_dev_fault(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(sequencer.__version__, prog_name="sequencer")
def main() -> None:
    """A real-time Ethereum L2 sequencer: millisecond mini-blocks, 1 s EVM blocks, py-evm inside.

    \b
    Examples:
      sequencer run --config configs/devnet.toml --data-dir data
      sequencer run --data-dir /tmp/dev --rpc-port 0 --log-level debug
    """


def _accounts_override(count: int | None) -> list[Override]:
    return [] if count is None else [Override("chain.generated_accounts", count, "--accounts")]


def _source(ctx: click.Context, name: str, flag: str, envvar: str | None = None) -> str:
    """How the user gave option ``name``: its flag, or its environment variable."""
    from_env = envvar is not None and ctx.get_parameter_source(name) is ParameterSource.ENVIRONMENT
    return envvar if from_env and envvar is not None else flag


_accounts_option = click.option(
    "--accounts",
    "generated_accounts",
    default=None,
    type=click.IntRange(0, MAX_GENERATED_ACCOUNTS),
    metavar="N",
    help="Fund N extra genesis accounts (1,000 ether each, addresses derived from their index; "
    "nobody holds their keys) to test with a large state. Part of the genesis: a data dir "
    "keeps the N it was created with. Overrides chain.generated_accounts.",
)


@main.command()
@click.option(
    "--config",
    "config_path",
    default=DEFAULT_CONFIG,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Chain and node config (TOML).",
)
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory holding the chain database; created if missing.",
)
@click.option(
    "--rpc-host",
    default=None,
    help="Interface to bind the JSON-RPC server to [default: from config, 127.0.0.1].",
)
@click.option(
    "--rpc-port",
    default=None,
    type=click.IntRange(*PORT_RANGE),
    help="JSON-RPC port (HTTP and WebSocket); 0 picks a free port [default: from config, 8545].",
)
@click.option(
    "--feed-port",
    default=None,
    type=click.IntRange(*PORT_RANGE),
    help="State-diff feed port (WebSocket, for verifiers); 0 picks a free port [default: from config, 8546].",
)
@click.option(
    "--metrics-port",
    default=None,
    type=click.IntRange(*PORT_RANGE),
    help="Serve Prometheus /metrics, /health and /ready on this port (0 = free) [default: from config, off].",
)
@click.option(
    "--admin-port",
    default=None,
    type=click.IntRange(*PORT_RANGE),
    help="Serve the public methods plus admin_*/debug_* on this separate port (0 = free) [default: off].",
)
@click.option(
    "--admin-token",
    default=None,
    envvar="SEQUENCER_ADMIN_TOKEN",
    help="Unlock admin_*/debug_* on the public port for requests with 'Authorization: Bearer TOKEN' "
    f"(or set SEQUENCER_ADMIN_TOKEN; at least {ADMIN_TOKEN_MIN_LENGTH} characters).",
)
@click.option(
    "--mini-block-ms",
    default=None,
    type=click.FloatRange(*MINI_BLOCK_INTERVAL_MS_RANGE),
    help="Override the mini-block interval in milliseconds.",
)
@click.option(
    "--evm-block-ms",
    default=None,
    type=click.FloatRange(*EVM_BLOCK_INTERVAL_MS_RANGE),
    help="Override the EVM block interval in milliseconds.",
)
@click.option("--log-level", default="info", show_default=True, type=click.Choice(LEVELS))
@click.option(
    "--log-format",
    default="kv",
    show_default=True,
    type=click.Choice(["kv", "json"]),
    help="key=value lines or one JSON object per line.",
)
@click.option(
    "--dev-fault",
    default=None,
    metavar="KIND[@N]",
    callback=_dev_fault_option,
    help="Devnet fire drill: corrupt one thing on the feed stream only (chain and RPC untouched) in "
    "the first mini-block (EVM block for state-root) at or after number N (default 0) that has "
    f"one. KIND: {', '.join(KINDS)}. Refused unless chain.devnet = true.",
)
@_accounts_option
@click.pass_context
def run(
    ctx: click.Context,
    config_path: Path,
    data_dir: Path,
    rpc_host: str | None,
    rpc_port: int | None,
    feed_port: int | None,
    metrics_port: int | None,
    admin_port: int | None,
    admin_token: str | None,
    mini_block_ms: float | None,
    evm_block_ms: float | None,
    log_level: str,
    log_format: str,
    dev_fault: DevFault | None,
    generated_accounts: int | None,
) -> None:
    """Run the sequencer daemon until SIGINT/SIGTERM.

    On start it prints the bound addresses, `rpc=http://HOST:PORT` and `feed=ws://HOST:PORT`.

    \b
    Examples:
      sequencer run --config configs/devnet.toml --data-dir data
      sequencer run --data-dir /tmp/dev --rpc-port 0
    """
    setup_logging(log_level, log_format)
    given = [
        ("rpc.host", rpc_host, "--rpc-host"),
        ("rpc.port", rpc_port, "--rpc-port"),
        ("feed.port", feed_port, "--feed-port"),
        ("metrics.port", metrics_port, "--metrics-port"),
        ("admin.port", admin_port, "--admin-port"),
        ("admin.token", admin_token, _source(ctx, "admin_token", "--admin-token", "SEQUENCER_ADMIN_TOKEN")),
        ("blocks.mini_block_interval_ms", mini_block_ms, "--mini-block-ms"),
        ("blocks.evm_block_interval_ms", evm_block_ms, "--evm-block-ms"),
    ]
    overrides = [Override(key, value, flag) for key, value, flag in given if value is not None]
    try:
        config = load_config(
            config_path, overrides=[*overrides, *_accounts_override(generated_accounts)], dev_fault=dev_fault
        )
        from sequencer.node import Node

        node = Node(config, data_dir)
    except (ConfigError, StorageError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)

    def ready(n: Any) -> None:
        click.echo(f"rpc={n.rpc_address.url}")
        click.echo(f"feed=ws://{n.feed_address.host}:{n.feed_address.port}")
        if n.metrics_address is not None:
            click.echo(f"metrics={n.metrics_address.url}")
        if n.admin_address is not None:
            click.echo(f"admin={n.admin_address.url}")
        sys.stdout.flush()

    import uvloop

    try:
        uvloop.run(node.run(on_ready=ready))
    except OSError as exc:
        click.echo(f"error: cannot start the RPC server: {exc.strerror or exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


@main.group("config")
def config_group() -> None:
    """Work with config files."""


@config_group.command("check")
@click.argument("config_path", type=click.Path(dir_okay=False, path_type=Path))
def config_check(config_path: Path) -> None:
    """Validate a config file and print a summary; exit 2 naming the bad key otherwise.

    \b
    Example:
      sequencer config check configs/devnet.toml
    """
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(
        f"ok: chain_id={cfg.chain.chain_id} fork={cfg.chain.fork} gas_limit={cfg.chain.block_gas_limit} "
        f"mini_block_ms={cfg.mini_block_interval_ms:g} evm_block_ms={cfg.evm_block_interval_ms:g} "
        f"genesis_accounts={len(cfg.chain.genesis)}"
    )


DEFAULT_RPC = "http://127.0.0.1:8545"
rpc_option = click.option("--rpc", default=DEFAULT_RPC, show_default=True, help="The node's JSON-RPC URL.")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _call(rpc: str, method: str, params: list[Any]) -> Any:
    """One JSON-RPC call; a clear one-line error and exit code 1 on any failure."""
    import json
    import urllib.error
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(rpc, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        click.echo(f"error: cannot reach the node at {rpc}: {getattr(exc, 'reason', exc)}", err=True)
        sys.exit(1)
    if "error" in answer:
        click.echo(
            f"error: {method}: {answer['error'].get('message')} (code {answer['error'].get('code')})",
            err=True,
        )
        sys.exit(1)
    return answer["result"]


def _table(title: str, rows: list[tuple[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in rows:
        table.add_row(key, str(value))
    Console().print(table)


def _emit(as_json: bool, data: Any, title: str, rows: list[tuple[str, Any]]) -> None:
    if as_json:
        import json

        click.echo(json.dumps(data))
    else:
        _table(title, rows)


@main.command()
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
    _emit(as_json, st, f"sequencer {st['clientVersion']} chain {st['chainId']}", rows)


@main.command()
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
    _emit(as_json, b, f"block {int(b['number'], 16)}", rows)


@main.command()
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
    _emit(as_json, {"transaction": t, "receipt": r}, "transaction", rows)


@main.command()
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
    _emit(as_json, {"status": st, "content": content}, "mempool", rows)


@main.command()
@click.option(
    "--config",
    "config_path",
    default=DEFAULT_CONFIG,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option("--data-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@_accounts_option
def init(config_path: Path, data_dir: Path, generated_accounts: int | None) -> None:
    """Create a data dir with the config's genesis (without starting the node).

    \b
    Example:
      sequencer init --config configs/devnet.toml --data-dir data
    """
    from sequencer.builder.startup import open_chain

    try:
        config = load_config(config_path, overrides=_accounts_override(generated_accounts))
        loaded = open_chain(config.chain, data_dir)
        db, chain = loaded.db, loaded.chain
        genesis = chain.get_block(0)
        assert genesis is not None
        click.echo(
            f"ok: data dir {data_dir} chain_id={config.chain.chain_id} head={chain.head.number} "
            f"genesis=0x{genesis.hash.hex()}"
        )
        db.close()
    except (ConfigError, StorageError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@main.group("db")
def db_group() -> None:
    """Inspect and verify a data directory."""


@db_group.command("check")
@click.option("--data-dir", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
def db_check(data_dir: Path) -> None:
    """Verify the whole data dir (log frames and CRCs, hashes, parent links, roots, state
    roots by replay, index consistency) without changing anything. Exit 0 if sound, 1 if not.

    \b
    Example:
      sequencer db check --data-dir data
    """
    from sequencer.storage.check import check_data_dir

    with click.progressbar(length=1, label="checking", file=sys.stderr, show_pos=False) as bar:
        last = [0]

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - last[0])
            last[0] = done

        report = check_data_dir(data_dir, progress)
    click.echo(
        f"records={report.records} mini_blocks={report.mini_blocks} blocks={report.blocks} "
        f"pool_records={report.pool_records}"
    )
    if report.torn_tail is not None:
        click.echo(
            f"torn tail: {report.torn_tail.dropped_bytes} bytes at {report.torn_tail.position} "
            "(repaired automatically at the next start)"
        )
    for problem in report.problems:
        click.echo(f"DAMAGED: {problem}")
    if report.ok:
        click.echo("ok: the data dir is sound")
    else:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
