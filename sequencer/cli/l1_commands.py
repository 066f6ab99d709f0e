"""Settlement commands: ``sequencer l1 deploy``, and the settlement half of ``sequencer run --l1``.

``l1 deploy`` deploys the L1 contracts and writes the settlement file; :func:`settlement_setup`
reads a settlement file and resolves the batcher's and the proposer's keys for ``run``. Errors
are one ``error:`` line and exit code 2.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import click

from sequencer.config import load_config, load_preset
from sequencer.errors import ConfigError
from sequencer.settlement.keys import DEV_KEYS, DEV_L1_CHAIN_IDS, DEV_ROLES, address_of, resolve_key
from sequencer.settlement.service import SettlementSetup
from sequencer.settlement.settings import inbox_address, load_settlement, render_settlement

DEPLOYER_KEY_ENVVAR = "SEQUENCER_DEPLOYER_KEY"
DEV_CHALLENGE_PERIOD_S = 60
CHALLENGE_PERIOD_S = 7 * 24 * 3600


def settlement_setup(
    l1_path: Path, l1_rpc: str | None, batcher_key: str | None, proposer_key: str | None
) -> SettlementSetup:
    """The settlement file at ``l1_path`` (read through ``l1_rpc`` when given) and the two keys."""
    settlement = load_settlement(l1_path)
    if l1_rpc is not None:
        settlement = settlement.with_l1_rpc(l1_rpc)
    chain_id = settlement.l1.chain_id
    batcher = resolve_key(
        "batcher",
        settlement.roles.batcher,
        flag=batcher_key,
        file_key=settlement.keys.batcher,
        l1_chain_id=chain_id,
    )
    proposer = resolve_key(
        "proposer",
        settlement.roles.proposer,
        flag=proposer_key,
        file_key=settlement.keys.proposer,
        l1_chain_id=chain_id,
    )
    return SettlementSetup(settlement, batcher, proposer)


def _address_option(value: str | None, flag: str) -> bytes | None:
    if value is None:
        return None
    text = value.strip()
    if not (text.startswith("0x") and len(text) == 42):
        raise click.BadParameter(f"expected a 0x-prefixed 20-byte address, got {value!r}", param_hint=flag)
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise click.BadParameter(
            f"expected a 0x-prefixed 20-byte address, got {value!r}", param_hint=flag
        ) from None


@click.group("l1")
def l1_group() -> None:
    """Settle on an L1: deploy the contracts and write the settlement file."""


@l1_group.command("deploy")
@click.option("--l1-rpc", required=True, help="The L1's JSON-RPC URL, e.g. http://127.0.0.1:8555 (anvil).")
@click.option(
    "--key",
    required=True,
    envvar=DEPLOYER_KEY_ENVVAR,
    help=f"The deployer's private key (or set {DEPLOYER_KEY_ENVVAR}); it owns the SystemConfig.",
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the settlement file (refused if it exists, unless --force).",
)
@click.option(
    "--config",
    "config_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The L2 chain config (its chain id and genesis go into the settlement file) "
    "[default: the built-in devnet config, the one `sequencer run --dev` runs].",
)
@click.option("--batcher", default=None, help="The batcher's address [default on a dev L1: dev account #1].")
@click.option(
    "--proposer", default=None, help="The proposer's address [default on a dev L1: dev account #2]."
)
@click.option(
    "--challenger", default=None, help="The challenger's address [default on a dev L1: dev account #3]."
)
@click.option(
    "--challenge-period",
    "challenge_period_s",
    default=None,
    type=click.IntRange(0, 10**9),
    help=f"Seconds an output root can be deleted by the challenger [default: {DEV_CHALLENGE_PERIOD_S} on a "
    f"dev L1, else {CHALLENGE_PERIOD_S}].",
)
@click.option(
    "--output-interval",
    "output_interval",
    default=10,
    show_default=True,
    type=click.IntRange(1, 10**9),
    help="L2 blocks between two output roots.",
)
@click.option(
    "--channel-timeout",
    default=50,
    show_default=True,
    type=click.IntRange(1, 10**6),
    help="L1 blocks an incomplete channel waits for its other frames before derivation drops it.",
)
@click.option(
    "--genesis-timestamp",
    "genesis_timestamp",
    default=None,
    type=click.IntRange(0, 2**63 - 1),
    help="Block 0's timestamp (unix seconds), for a config without chain.genesis_timestamp "
    "[default: the config's, else now]; written to the settlement file.",
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def deploy_command(
    l1_rpc: str,
    key: str,
    out_path: Path,
    config_path: Path | None,
    batcher: str | None,
    proposer: str | None,
    challenger: str | None,
    challenge_period_s: int | None,
    output_interval: int,
    channel_timeout: int,
    genesis_timestamp: int | None,
    force: bool,
) -> None:
    """Deploy SystemConfig, L2OutputOracle and OptimismPortal on the L1 and write the settlement file.

    On a development L1 (chain id 31337 or 1337) the roles default to the standard development
    accounts #1 (batcher), #2 (proposer) and #3 (challenger), whose keys `sequencer run --l1`
    then uses by default.

    \b
    Example:
      sequencer l1 deploy --l1-rpc http://127.0.0.1:8555 \\
        --key 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 --out l1.toml
    """
    from web3 import Web3

    from sequencer.settlement.deploy import DeployError, DeployRequest, check_roles, deploy, genesis_hash
    from sequencer.settlement.settings import parse_key

    try:
        if out_path.exists() and not force:
            raise ConfigError(f"{out_path} exists: pass --force to overwrite it")
        deployer_key = parse_key(key, "--key")
        config = load_preset("devnet") if config_path is None else load_config(config_path)
        chain = config.chain
        if chain.genesis_timestamp is None:
            stamp = genesis_timestamp if genesis_timestamp is not None else int(time.time())
            chain = replace(chain, genesis_timestamp=stamp)
        elif genesis_timestamp is not None and genesis_timestamp != chain.genesis_timestamp:
            raise ConfigError(
                f"--genesis-timestamp {genesis_timestamp} is not the config's chain.genesis_timestamp "
                f"{chain.genesis_timestamp}"
            )
        assert chain.genesis_timestamp is not None
        try:
            l1_chain_id = int(Web3(Web3.HTTPProvider(l1_rpc, request_kwargs={"timeout": 10})).eth.chain_id)
        except Exception as exc:
            raise ConfigError(f"cannot reach the L1 at {l1_rpc}: {exc}") from None
        dev = l1_chain_id in DEV_L1_CHAIN_IDS

        def role(value: str | None, flag: str, name: str) -> bytes:
            given = _address_option(value, flag)
            if given is not None:
                return given
            if not dev:
                raise ConfigError(f"{flag} is required on L1 chain {l1_chain_id} (not a development chain)")
            return address_of(DEV_KEYS[DEV_ROLES[name]])

        roles = (
            role(batcher, "--batcher", "batcher"),
            role(proposer, "--proposer", "proposer"),
            role(challenger, "--challenger", "challenger"),
        )
        check_roles(roles[0], roles[1])
        period = challenge_period_s
        if period is None:
            period = DEV_CHALLENGE_PERIOD_S if dev else CHALLENGE_PERIOD_S
        request = DeployRequest(
            l1_rpc=l1_rpc,
            deployer_key=deployer_key,
            l2_chain_id=config.chain.chain_id,
            l2_genesis_hash=genesis_hash(chain),
            l2_genesis_timestamp=chain.genesis_timestamp,
            batcher=roles[0],
            proposer=roles[1],
            challenger=roles[2],
            challenge_period_s=period,
            output_interval_blocks=output_interval,
            batch_inbox=inbox_address(config.chain.chain_id),
            channel_timeout_l1_blocks=channel_timeout,
        )
        settlement = deploy(request, report=lambda line: click.echo(line, err=True))
    except (ConfigError, DeployError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(render_settlement(settlement))
    os.replace(tmp, out_path)
    click.echo(
        f"ok: wrote {out_path}: L1 chain {settlement.l1.chain_id} from block {settlement.l1.start_block}, "
        f"L2 chain {settlement.l2_chain_id}, output every {output_interval} L2 blocks"
    )
