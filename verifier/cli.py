"""The ``verifier`` command line."""

from __future__ import annotations

import json
import signal
import ssl
import sys
import time
from pathlib import Path

import click

import verifier
from sequencer.logs import FORMATS, LEVELS, setup_logging
from verifier.status import STATUS_HOST, StatusView, read_checkpoint, status_info

TOKEN_ENVVAR = "VERIFIER_FEED_TOKEN"
EXIT_STATE_CORRUPT = 4


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(verifier.__version__, prog_name="verifier")
def main() -> None:
    """Follow a sequencer's state-diff feed, re-execute everything, and raise an alarm on any lie;
    or derive the chain from L1 alone (--derive).

    \b
    Examples:
      verifier run --feed ws://127.0.0.1:8546 --config configs/devnet.toml --data-dir vdata
      verifier run --derive --l1 l1.toml --config configs/devnet.toml --data-dir ddata
      verifier status --data-dir vdata --json
    """


@main.command()
@click.option(
    "--feed",
    default=None,
    help="The sequencer's feed, e.g. ws://127.0.0.1:8546 or wss://...; with --derive, its unsafe blocks "
    "are checked against what L1 later says.",
)
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The chain config (TOML) of the chain being verified: its genesis, chain id, gas limit, "
    "base fee rule, coinbase and signing schedule are what the stream is checked against.",
)
@click.option(
    "--feed-token",
    default=None,
    envvar=TOKEN_ENVVAR,
    help=f"Bearer token for the feed (or set {TOKEN_ENVVAR}) [default: the config's feed.token].",
)
@click.option(
    "--feed-ca",
    default=None,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="CA certificate(s) (PEM) to trust for a wss:// feed [default: the system's].",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    metavar="N",
    help="Re-execute mini-blocks in N parallel processes, this one and N-1 forked workers (each "
    "takes the mini-blocks whose number mod N is its own; the claimed diffs are every "
    "mini-block's pre-state). 1: in this process only.",
)
@click.option(
    "--audit-every",
    default=0,
    show_default=True,
    type=click.IntRange(0, None),
    metavar="K",
    help="Audit mode: recompute the state root with py-trie at start-up and every K EVM blocks "
    "(0: off; the incremental trie's root is checked at start-up either way).",
)
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The verifier's own state and progress; created if missing.",
)
@click.option(
    "--on-mismatch",
    type=click.Choice(["halt", "continue"]),
    default="halt",
    show_default=True,
    help="Stop at the first mismatch (exit code 3), or record it and go on.",
)
@click.option(
    "--status-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve /status (JSON), /metrics (Prometheus), /health and the /dashboard/ page; 0: a free port.",
)
@click.option(
    "--status-host",
    default=STATUS_HOST,
    show_default=True,
    help="Interface of the status port (e.g. 0.0.0.0 for a Prometheus on another machine).",
)
@click.option(
    "--shard",
    default="0/1",
    show_default=True,
    metavar="I/N",
    help="Re-execute only mini-blocks whose number mod N is I; N processes split the work.",
)
@click.option(
    "--replica",
    is_flag=True,
    help="Apply state diffs without re-executing (still checks block roots); answers reads on --status-port.",
)
@click.option("--log-level", default="info", show_default=True, type=click.Choice(LEVELS))
@click.option(
    "--log-format",
    default="kv",
    show_default=True,
    type=click.Choice(FORMATS),
    help="key=value lines or one JSON object per line.",
)
@click.option(
    "--derive",
    is_flag=True,
    help="Derive the chain from L1 alone (needs --l1): batches and output roots on L1.",
)
@click.option(
    "--l1",
    "l1_path",
    default=None,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The settlement file (written by `sequencer l1 deploy`), with --derive.",
)
@click.option("--l1-rpc", default=None, help="Read L1 at this URL instead of the settlement file's l1.rpc.")
@click.option(
    "--l1-confirmations",
    default=0,
    show_default=True,
    type=click.IntRange(0, 10_000),
    help="With --derive: read L1 blocks only this many blocks behind the L1 head.",
)
def run(
    feed: str | None,
    config_path: Path,
    feed_token: str | None,
    feed_ca: Path | None,
    workers: int,
    audit_every: int,
    data_dir: Path,
    on_mismatch: str,
    status_port: int | None,
    status_host: str,
    shard: str,
    replica: bool,
    log_level: str,
    log_format: str,
    derive: bool,
    l1_path: Path | None,
    l1_rpc: str | None,
    l1_confirmations: int,
) -> None:
    """Verify the feed from the verifier's own progress (genesis the first time) and follow it;
    with --derive, derive the chain from L1 from the settlement's start (docs/settlement.md).

    \b
    Examples:
      verifier run --feed ws://127.0.0.1:8546 --config configs/devnet.toml --data-dir vdata
      verifier run --derive --l1 l1.toml --config configs/devnet.toml --data-dir ddata
    """
    import asyncio
    import logging

    setup_logging(log_level, log_format)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    from sequencer.config import load_config
    from sequencer.errors import ConfigError

    if feed is not None and not feed.startswith(("ws://", "wss://")):
        click.echo(f"error: --feed must be a ws:// or wss:// URL, got {feed!r}", err=True)
        sys.exit(2)
    if derive:
        if l1_path is None:
            click.echo("error: --derive reads L1: give --l1 (the settlement file)", err=True)
            sys.exit(2)
        from verifier.derivation.cli import run_derive

        sys.exit(
            run_derive(
                l1_path,
                config_path,
                data_dir,
                l1_rpc=l1_rpc,
                confirmations=l1_confirmations,
                halt_on_mismatch=on_mismatch == "halt",
                status_port=status_port,
                status_host=status_host,
                feed=feed,
                feed_token=feed_token,
                feed_ssl=ssl.create_default_context(cafile=str(feed_ca) if feed_ca else None)
                if feed is not None and feed.startswith("wss://")
                else None,
            )
        )
    if feed is None:
        click.echo(
            "error: give --feed (the sequencer's feed), or --derive --l1 FILE to derive from L1", err=True
        )
        sys.exit(2)
    from verifier.derivation.cli import derive_status

    if derive_status(data_dir) is not None:
        click.echo(
            f"error: {data_dir} holds a derivation verifier's state (--derive): use another --data-dir",
            err=True,
        )
        sys.exit(2)
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    try:
        index_text, count_text = shard.split("/")
        shard_spec = (int(index_text), int(count_text))
        if not 0 <= shard_spec[0] < shard_spec[1]:
            raise ValueError
    except ValueError:
        click.echo(f"error: --shard must be I/N with 0 <= I < N, got {shard!r}", err=True)
        sys.exit(2)
    from verifier.node import StateCorrupt, VerifierNode
    from verifier.replay import Mode
    from verifier.store import EarlierDataDir

    context = None
    if feed.startswith("wss://"):
        context = ssl.create_default_context(cafile=str(feed_ca) if feed_ca else None)
    if not config.chain.sequencer_signers:
        logging.getLogger("verifier").warning(
            "the chain config names no sequencer signer (chain.sequencer_signers): signatures are not checked"
        )
    try:
        node = VerifierNode(
            feed,
            config.chain,
            data_dir,
            halt_on_mismatch=on_mismatch == "halt",
            status_port=status_port,
            status_host=status_host,
            mode=Mode(shard_spec[0], shard_spec[1], replica),
            max_message_bytes=config.feed_max_message_bytes,
            token=feed_token or config.feed_token,
            ssl_context=context,
            audit_every=audit_every,
            workers=workers,
        )
    except (EarlierDataDir, StateCorrupt) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)

    async def main_task() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, node.stop)
        address = await node.start()
        if address is not None:
            click.echo(f"status={address.url}")
            sys.stdout.flush()
        return await node.run()

    try:
        sys.exit(asyncio.run(main_task()))
    except StateCorrupt as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_STATE_CORRUPT)


@main.command()
@click.option("--data-dir", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(data_dir: Path, as_json: bool) -> None:
    """Show a verifier's height, lag, verified counts and verdict (from its data dir).

    \b
    Example:
      verifier status --data-dir vdata --json
    """
    from verifier.derivation.cli import derive_status, echo_derive_status

    derived = derive_status(data_dir)
    if derived is not None:
        if as_json:
            click.echo(json.dumps(derived))
        else:
            echo_derive_status(derived)
        sys.exit(0 if derived["verdict"] == "ok" else 1)
    info = status_info(StatusView.of_checkpoint(read_checkpoint(data_dir)), time.time())
    if as_json:
        click.echo(json.dumps(info))
    else:
        for key, value in info.items():
            if key != "mismatches":
                click.echo(f"{key:>20}: {value}")
        for m in info["mismatches"]:
            click.echo(
                f"{'MISMATCH':>20}: block {m['evm_block']} mini-block {m['mini_block']} tx {m['tx_index']} "
                f"{m['field']}: claimed {m['claimed']}, recomputed {m['recomputed']}"
            )
    sys.exit(0 if info["verdict"] == "ok" else 1)


if __name__ == "__main__":  # pragma: no cover
    main()
