"""The ``sequencer bridge`` command group (docs/bridge.md): moving ETH and messages between L1 and L2.

Withdrawals (``withdraw``, ``prove``, ``finalize`` and their half of ``status``) are
:mod:`sequencer.cli.bridge_withdrawals`; deposits (``deposit`` and the other half of ``status``)
are :mod:`sequencer.cli.bridge_deposits`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sequencer.cli.bridge_deposits import BridgeError as DepositError
from sequencer.cli.bridge_deposits import deposit_command, deposit_status, print_deposit_status
from sequencer.cli.bridge_withdrawals import (
    DEFAULT_RPC,
    BridgeError,
    finalize,
    parse_tx_hash,
    print_withdrawal_status,
    prove,
    withdraw,
    withdrawal_status,
)
from sequencer.cli.rpc_client import RpcCallError
from sequencer.errors import ConfigError


@click.group("bridge")
def bridge_group() -> None:
    """Move ETH between L1 and the L2: deposits, withdrawals, and where each stands."""


@bridge_group.command("status")
@click.argument("tx_hash", metavar="TXHASH")
@click.option(
    "--l1",
    "l1_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The chain's settlement file (written by `sequencer l1 deploy`).",
)
@click.option("--rpc", default=DEFAULT_RPC, show_default=True, help="The sequencer's JSON-RPC URL (L2).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(tx_hash: str, l1_path: Path, rpc: str, as_json: bool) -> None:
    """Where a deposit (TXHASH: the L1 transaction that made it) or a withdrawal (TXHASH: the L2
    transaction that started it) stands.

    \b
    Example:
      sequencer bridge status 0x1234... --l1 l1.toml
    """
    hash_bytes = parse_tx_hash(tx_hash)
    try:
        deposits = deposit_status(hash_bytes, l1_path, rpc)
    except (DepositError, ConfigError, RpcCallError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if deposits is not None:
        print_deposit_status(deposits, as_json)
        return
    try:
        found = withdrawal_status(rpc, l1_path, hash_bytes)
    except (BridgeError, ConfigError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if found is not None:
        print_withdrawal_status(found, as_json)
        return
    click.echo(f"error: 0x{hash_bytes.hex()} is neither a deposit on L1 nor a withdrawal on {rpc}", err=True)
    sys.exit(1)


for _command in (deposit_command, withdraw, prove, finalize):
    bridge_group.add_command(_command)
