"""The ``sequencer`` command line: the ``main`` click group and its commands.

Running and preparing a node (``run``, ``init``, ``config check``, ``db check``) is
:mod:`sequencer.cli.node_commands`; settling on L1 (``l1 deploy``, ``run --l1``) is
:mod:`sequencer.cli.l1_commands`; inspecting a running one (``status``, ``block``, ``tx``,
``mempool``) is :mod:`sequencer.cli.inspect_commands`, over :mod:`sequencer.cli.rpc_client`
and printed by :mod:`sequencer.cli.render`; the bridge (``bridge ...``) is
:mod:`sequencer.cli.bridge_commands`.
"""

from __future__ import annotations

import click

import sequencer
from sequencer.cli.bridge_commands import bridge_group
from sequencer.cli.inspect_commands import block, mempool, status, tx
from sequencer.cli.l1_commands import l1_group
from sequencer.cli.node_commands import config_group, db_group, init, run

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(sequencer.__version__, prog_name="sequencer")
def main() -> None:
    """A real-time Ethereum L2 sequencer: millisecond mini-blocks, 1 s EVM blocks, py-evm inside.

    \b
    Examples:
      sequencer run --dev
      sequencer run --config configs/devnet.toml --data-dir data
      sequencer run --dev --data-dir /tmp/dev --rpc-port 0 --log-level debug
      sequencer l1 deploy --l1-rpc http://127.0.0.1:8555 --key 0xac09...ff80 --out l1.toml
      sequencer run --config configs/devnet.toml --data-dir data --l1 l1.toml
    """


for _command in (run, init, config_group, db_group, l1_group, bridge_group, status, block, tx, mempool):
    main.add_command(_command)
