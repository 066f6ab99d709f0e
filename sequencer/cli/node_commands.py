"""Commands that run or prepare a node: ``run``, ``init``, ``config check``, ``db check``.

Flags that set config values become :class:`~sequencer.config.Override` values, checked by the
config's own rules: a config or storage error is one ``error:`` line and exit code 2.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from sequencer.config import (
    ADMIN_TOKEN_MIN_LENGTH,
    EVM_BLOCK_INTERVAL_MS_RANGE,
    MAX_GENERATED_ACCOUNTS,
    MINI_BLOCK_INTERVAL_MS_RANGE,
    PORT_RANGE,
    NodeConfig,
    Override,
    load_config,
    load_preset,
)
from sequencer.dashboard.app import dashboard_url
from sequencer.devfault import FEED_KINDS, SETTLEMENT_KINDS, DevFault, parse_dev_fault
from sequencer.errors import ConfigError, StorageError
from sequencer.logs import LEVELS, setup_logging

F = TypeVar("F", bound=Callable[..., Any])

ADMIN_TOKEN_ENVVAR = "SEQUENCER_ADMIN_TOKEN"
APP_NAME = "megapy"


def default_data_dir(chain_id: int) -> Path:
    """Where a chain lives without ``--data-dir``: under the user's data directory, one per chain
    id (``~/.local/share/megapy/chain-1337`` on Linux, ``$XDG_DATA_HOME`` honoured)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / f"chain-{chain_id}"


def _node_config(
    config_path: Path | None, dev: bool, overrides: list[Override], dev_fault: DevFault | None = None
) -> NodeConfig:
    """The config ``--config FILE`` names or, with ``--dev``, the built-in devnet."""
    if dev and config_path is not None:
        raise click.UsageError("give --config FILE or --dev (the built-in devnet config), not both")
    if config_path is None:
        if not dev:
            raise click.UsageError(
                "no config: give --config FILE (e.g. configs/production.toml) or --dev "
                "(the built-in devnet config)"
            )
        return load_preset("devnet", overrides=overrides, dev_fault=dev_fault)
    return load_config(config_path, overrides=overrides, dev_fault=dev_fault)


def _dev_fault_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> DevFault | None:
    if value is None:
        return None
    try:
        return parse_dev_fault(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop where it is installed (Linux, macOS), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # a platform without uvloop (it is a dependency only where it builds)
        asyncio.run(main)
    else:
        uvloop.run(main)


def _accounts_override(count: int | None) -> list[Override]:
    return [] if count is None else [Override("chain.generated_accounts", count, "--accounts")]


def _admin_token_source(ctx: click.Context) -> str:
    """How the admin token was given, for errors: the flag or its environment variable."""
    from_env = ctx.get_parameter_source("admin_token") is ParameterSource.ENVIRONMENT
    return ADMIN_TOKEN_ENVVAR if from_env else "--admin-token"


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


_config_option = click.option(
    "--config",
    "config_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Chain and node config (TOML), e.g. configs/production.toml. Required unless --dev.",
)
_dev_option = click.option(
    "--dev",
    is_flag=True,
    help="Use the built-in devnet config (configs/devnet.toml, shipped with the package): chain id "
    "1337, the 10 standard dev accounts funded.",
)
_data_dir_option = click.option(
    "--data-dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory holding the chain database; created if missing "
    "[default: the user's data directory, e.g. ~/.local/share/megapy/chain-CHAIN_ID].",
)


def _host_option(flag: str, what: str) -> Callable[[F], F]:
    """A ``--*-host`` option: the interface to bind ``what`` to, unset by default (the config decides)."""
    return click.option(
        flag,
        default=None,
        metavar="HOST",
        help=f"Interface to bind {what} to [default: from config, 127.0.0.1].",
    )


def _port_option(flag: str, help_text: str) -> Callable[[F], F]:
    """A ``--*-port`` option: 0 to 65535, unset by default (the config decides)."""
    return click.option(flag, default=None, type=click.IntRange(*PORT_RANGE), help=help_text)


@click.command("run")
@_config_option
@_dev_option
@_data_dir_option
@click.option(
    "--rpc-host",
    default=None,
    help="Interface to bind the JSON-RPC server to [default: from config, 127.0.0.1].",
)
@_port_option(
    "--rpc-port", "JSON-RPC port (HTTP and WebSocket); 0 picks a free port [default: from config, 8545]."
)
@_port_option(
    "--feed-port",
    "State-diff feed port (WebSocket, for verifiers); 0 picks a free port [default: from config, 8546].",
)
@_host_option("--feed-host", "the feed")
@_port_option(
    "--metrics-port",
    "Serve Prometheus /metrics, /health and /ready on this port (0 = free) [default: from config, off].",
)
@_host_option("--metrics-host", "the metrics port")
@_port_option(
    "--admin-port",
    "Serve the public methods plus admin_*/debug_* on this separate port (0 = free) [default: off].",
)
@click.option(
    "--dashboard/--no-dashboard",
    "dashboard",
    default=None,
    help="Serve the read-only live dashboard at /dashboard/ [default: from config; on in devnet].",
)
@_port_option(
    "--dashboard-port",
    "Serve the dashboard on its own port instead of the JSON-RPC port (0 = free); turns it on.",
)
@_host_option("--dashboard-host", "the dashboard's own port")
@click.option(
    "--dashboard-verifier",
    "dashboard_verifiers",
    multiple=True,
    metavar="URL",
    help="A verifier's status URL (http://HOST:PORT) the dashboard shows; repeat for several "
    "[default: from config].",
)
@click.option(
    "--admin-token",
    default=None,
    envvar=ADMIN_TOKEN_ENVVAR,
    help="Unlock admin_*/debug_* on the public port for requests with 'Authorization: Bearer TOKEN' "
    f"(or set {ADMIN_TOKEN_ENVVAR}; at least {ADMIN_TOKEN_MIN_LENGTH} characters).",
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
@click.option(
    "--rpc-frontends",
    default=None,
    type=click.IntRange(0, 64),
    help="RPC front-end processes sharing the RPC port (rpc.frontends; 0: the node serves it).",
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
    f"one. KIND: {', '.join(FEED_KINDS)}; with --l1, corrupt what goes to L1 instead: "
    f"{', '.join(SETTLEMENT_KINDS)} (L2 block N; for deposit-skip L1 block N). Refused unless "
    "chain.devnet = true.",
)
@_accounts_option
@click.option(
    "--l1",
    "l1_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settle on L1 as this settlement file says (written by `sequencer l1 deploy`): post batches "
    "and output roots; `safe`/`finalized` follow L1 [default: no L1].",
)
@click.option(
    "--l1-rpc", default=None, help="Reach the L1 at this URL instead of the settlement file's l1.rpc."
)
@click.option(
    "--batcher-key",
    default=None,
    help="The batcher's L1 key (or SEQUENCER_BATCHER_KEY, or [keys] in the settlement file; on a dev L1 "
    "the standard dev account's by default).",
)
@click.option(
    "--proposer-key",
    default=None,
    help="The proposer's L1 key (or SEQUENCER_PROPOSER_KEY, or [keys] in the settlement file).",
)
@click.pass_context
def run(
    ctx: click.Context,
    config_path: Path | None,
    dev: bool,
    data_dir: Path | None,
    rpc_host: str | None,
    rpc_port: int | None,
    feed_port: int | None,
    feed_host: str | None,
    metrics_host: str | None,
    dashboard_host: str | None,
    metrics_port: int | None,
    admin_port: int | None,
    dashboard: bool | None,
    dashboard_port: int | None,
    dashboard_verifiers: tuple[str, ...],
    admin_token: str | None,
    mini_block_ms: float | None,
    evm_block_ms: float | None,
    rpc_frontends: int | None,
    log_level: str,
    log_format: str,
    dev_fault: DevFault | None,
    generated_accounts: int | None,
    l1_path: Path | None,
    l1_rpc: str | None,
    batcher_key: str | None,
    proposer_key: str | None,
) -> None:
    """Run the sequencer daemon until SIGINT/SIGTERM.

    On start it prints the bound addresses, `rpc=http://HOST:PORT` and `feed=ws://HOST:PORT`
    (and `metrics=`, `admin=`, `dashboard=http://HOST:PORT/dashboard/` when they are on).

    \b
    Examples:
      sequencer run --dev
      sequencer run --config configs/production.toml --data-dir /var/lib/megapy
      sequencer run --dev --data-dir /tmp/dev --rpc-port 0
      sequencer run --config configs/devnet.toml --data-dir data --l1 l1.toml
    """
    setup_logging(log_level, log_format)
    given = [
        ("rpc.host", rpc_host, "--rpc-host"),
        ("rpc.port", rpc_port, "--rpc-port"),
        ("feed.port", feed_port, "--feed-port"),
        ("feed.host", feed_host, "--feed-host"),
        ("metrics.host", metrics_host, "--metrics-host"),
        ("dashboard.host", dashboard_host, "--dashboard-host"),
        ("metrics.port", metrics_port, "--metrics-port"),
        ("admin.port", admin_port, "--admin-port"),
        ("dashboard.enabled", dashboard, "--dashboard" if dashboard else "--no-dashboard"),
        (
            "dashboard.enabled",
            None if dashboard is not None or dashboard_port is None else True,
            "--dashboard-port",
        ),
        ("dashboard.port", dashboard_port, "--dashboard-port"),
        ("dashboard.verifiers", list(dashboard_verifiers) or None, "--dashboard-verifier"),
        ("admin.token", admin_token, _admin_token_source(ctx)),
        ("blocks.mini_block_interval_ms", mini_block_ms, "--mini-block-ms"),
        ("blocks.evm_block_interval_ms", evm_block_ms, "--evm-block-ms"),
        ("rpc.frontends", rpc_frontends, "--rpc-frontends"),
    ]
    overrides = [Override(key, value, flag) for key, value, flag in given if value is not None]
    try:
        config = _node_config(
            config_path, dev, [*overrides, *_accounts_override(generated_accounts)], dev_fault
        )
        from sequencer.node import Node

        setup = None
        if l1_path is not None:
            from sequencer.cli.l1_commands import settlement_setup

            setup = settlement_setup(l1_path, l1_rpc, batcher_key, proposer_key)
            if config.chain.genesis_timestamp is None:  # the chain's launch time is the settlement's
                timestamp = setup.settlement.l2_genesis_timestamp
                config = dataclasses.replace(
                    config, chain=dataclasses.replace(config.chain, genesis_timestamp=timestamp)
                )
        elif dev_fault is not None and not dev_fault.on_feed:
            raise ConfigError(f"--dev-fault {dev_fault.kind} corrupts what goes to L1: it needs --l1")
        node = Node(config, data_dir or default_data_dir(config.chain.chain_id), setup)
    except (ConfigError, StorageError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)

    def ready(n: Any) -> None:
        click.echo(f"rpc={n.rpc_address.url}")
        click.echo(f"feed={n.feed_url}")
        if n.metrics_address is not None:
            click.echo(f"metrics={n.metrics_address.url}")
        if n.admin_address is not None:
            click.echo(f"admin={n.admin_address.url}")
        if n.dashboard_address is not None:
            click.echo(f"dashboard={dashboard_url(n.dashboard_address.url)}")
        sys.stdout.flush()

    try:
        run_event_loop(node.run(on_ready=ready))
    except OSError as exc:
        click.echo(f"error: cannot start the RPC server: {exc.strerror or exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


@click.group("config")
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


@click.command("init")
@_config_option
@_dev_option
@_data_dir_option
@_accounts_option
def init(config_path: Path | None, dev: bool, data_dir: Path | None, generated_accounts: int | None) -> None:
    """Create a data dir with the config's genesis (without starting the node).

    \b
    Example:
      sequencer init --config configs/devnet.toml --data-dir data
    """
    from sequencer.builder.startup import open_chain

    try:
        config = _node_config(config_path, dev, _accounts_override(generated_accounts))
        data_dir = data_dir or default_data_dir(config.chain.chain_id)
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


@click.group("db")
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
