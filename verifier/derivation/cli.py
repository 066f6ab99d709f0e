"""The body of ``verifier run --derive`` and of ``verifier status`` for a derivation data dir."""

from __future__ import annotations

import asyncio
import signal
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import click

from sequencer.config import load_config
from sequencer.errors import ConfigError
from sequencer.settlement.settings import load_settlement
from verifier.derivation.checkpoint import load_derivation, status_of

EXIT_USAGE = 2


def run_derive(
    l1_path: Path,
    config_path: Path,
    data_dir: Path,
    *,
    l1_rpc: str | None,
    confirmations: int,
    halt_on_mismatch: bool,
    status_port: int | None,
    status_host: str = "127.0.0.1",
    feed: str | None = None,
    feed_token: str | None = None,
    feed_ssl: ssl.SSLContext | None = None,
) -> int:
    """Derive the chain from L1 until stopped (comparing the feed's unsafe blocks too, when given
    one); the exit code."""
    from verifier.derivation.node import DerivationFailed, DerivationNode

    try:
        settlement = load_settlement(l1_path)
        if l1_rpc is not None:
            settlement = settlement.with_l1_rpc(l1_rpc)
        config = load_config(config_path)
        if config.chain.chain_id != settlement.l2_chain_id:
            raise ConfigError(
                f"{config_path} is chain {config.chain.chain_id}, the settlement file is for chain "
                f"{settlement.l2_chain_id}"
            )
        node = DerivationNode(
            settlement,
            config.chain,
            data_dir,
            halt_on_mismatch=halt_on_mismatch,
            status_port=status_port,
            status_host=status_host,
            confirmations=confirmations,
            feed=feed,
            feed_token=feed_token or config.feed_token,
            feed_ssl=feed_ssl,
            max_message_bytes=config.feed_max_message_bytes,
        )
    except (ConfigError, DerivationFailed) as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_USAGE

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
        return asyncio.run(main_task())
    except DerivationFailed as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_USAGE


def derive_status(data_dir: Path) -> dict[str, Any] | None:
    """The status of a derivation data dir, or ``None`` when it holds no derivation."""
    checkpoint = load_derivation(data_dir)
    return None if checkpoint is None else status_of(checkpoint, time.time())


def echo_derive_status(info: dict[str, Any]) -> None:
    """``verifier status`` without ``--json``, for a derivation data dir."""
    for key, value in info.items():
        if key != "mismatches":
            click.echo(f"{key:>20}: {value}")
    for m in info["mismatches"]:
        click.echo(
            f"{'MISMATCH':>20}: L2 block {m['l2_block']} {m['field']}: L1 claims {m['claimed']}, derived "
            f"{m['derived']} (L1 block {m['l1_block']} tx {m['l1_tx']})"
        )
