"""The ``sequencer`` command line."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

import sequencer
from sequencer.config import load_config
from sequencer.errors import ConfigError, StorageError
from sequencer.feed.faults import KINDS, DevFault, parse_dev_fault
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
    type=click.IntRange(0, 65535),
    help="JSON-RPC port (HTTP and WebSocket); 0 picks a free port [default: from config, 8545].",
)
@click.option(
    "--feed-port",
    default=None,
    type=click.IntRange(0, 65535),
    help="State-diff feed port (WebSocket, for verifiers); 0 picks a free port [default: from config, 8546].",
)
@click.option(
    "--mini-block-ms",
    default=None,
    type=click.FloatRange(1, 60_000),
    help="Override the mini-block interval in milliseconds.",
)
@click.option(
    "--evm-block-ms",
    default=None,
    type=click.FloatRange(1, 3_600_000),
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
def run(
    config_path: Path,
    data_dir: Path,
    rpc_host: str | None,
    rpc_port: int | None,
    feed_port: int | None,
    mini_block_ms: float | None,
    evm_block_ms: float | None,
    log_level: str,
    log_format: str,
    dev_fault: DevFault | None,
) -> None:
    """Run the sequencer daemon until SIGINT/SIGTERM.

    On start it prints the bound addresses, `rpc=http://HOST:PORT` and `feed=ws://HOST:PORT`.

    \b
    Examples:
      sequencer run --config configs/devnet.toml --data-dir data
      sequencer run --data-dir /tmp/dev --rpc-port 0
    """
    setup_logging(log_level, log_format)
    try:
        config = load_config(config_path)
        overrides: dict[str, Any] = {}
        if rpc_host is not None:
            overrides["rpc_host"] = rpc_host
        if rpc_port is not None:
            overrides["rpc_port"] = rpc_port
        if feed_port is not None:
            overrides["feed_port"] = feed_port
        if mini_block_ms is not None:
            overrides["mini_block_interval_ms"] = mini_block_ms
        if evm_block_ms is not None:
            overrides["evm_block_interval_ms"] = evm_block_ms
        config = replace(config, **overrides)
        if config.evm_block_interval_ms < config.mini_block_interval_ms:
            raise ConfigError("the EVM block interval must not be shorter than the mini-block interval")
        if dev_fault is not None and not config.chain.devnet:
            raise ConfigError(
                "--dev-fault is refused: the chain config is not a devnet (chain.devnet = false)"
            )
        from sequencer.node import Node

        node = Node(config, data_dir, dev_fault=dev_fault)
    except (ConfigError, StorageError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)

    def ready(n: Any) -> None:
        click.echo(f"rpc={n.rpc_address.url}")
        click.echo(f"feed=ws://{n.feed_address.host}:{n.feed_address.port}")
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
