"""About the node and its network: client version, chain id, sync status, status (accounts:
``rpc/devaccounts.py``)."""

from __future__ import annotations

import platform
from importlib.metadata import version
from typing import Any

from eth_hash.auto import keccak

import sequencer
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import d, params_list, parse_data, q
from sequencer.rpc.context import RpcContext

CLIENT_VERSION = (
    f"{sequencer.CLIENT_NAME}/v{sequencer.__version__}/python{platform.python_version()}"
    f"/py-evm-{version('py-evm')}"
)
DEVNET_CLIENT_VERSION = f"anvil-compatible/{CLIENT_VERSION}"
"""On a devnet: hardhat's network helpers (``loadFixture``, ``time``, ``mine``...) refuse a node
whose version does not start with ``anvil``, ``hardhat`` or ``zksync``; this node has anvil's
dev-chain methods, so it says so first."""


def chain_id_methods(chain_id: int) -> dict[str, Handler]:
    """``eth_chainId`` and ``net_version`` (the RPC front ends answer them too)."""

    def net_version(params: list[Any]) -> str:
        params_list(params, "net_version", 0, 0)
        return str(chain_id)

    def eth_chain_id(params: list[Any]) -> str:
        params_list(params, "eth_chainId", 0, 0)
        return q(chain_id)

    return {"net_version": net_version, "eth_chainId": eth_chain_id}


def node_methods(ctx: RpcContext) -> dict[str, Handler]:
    """The ``web3_``/``net_`` handlers and the node's own ones over ``ctx``."""
    chain_id = ctx.chain.chain_id
    client_version = DEVNET_CLIENT_VERSION if ctx.chain.config.devnet else CLIENT_VERSION

    def web3_client_version(params: list[Any]) -> str:
        params_list(params, "web3_clientVersion", 0, 0)
        return client_version

    def web3_sha3(params: list[Any]) -> str:
        (data,) = params_list(params, "web3_sha3", 1, 1)
        return d(keccak(parse_data(data, "data")))

    def eth_syncing(params: list[Any]) -> bool:
        params_list(params, "eth_syncing", 0, 0)
        return False  # the sequencer produces the chain; it never syncs

    def net_listening(params: list[Any]) -> bool:
        params_list(params, "net_listening", 0, 0)
        return True

    def net_peer_count(params: list[Any]) -> str:
        params_list(params, "net_peerCount", 0, 0)
        return "0x0"  # a sequencer has followers on its feed, not devp2p peers

    def sequencer_status(params: list[Any]) -> dict[str, Any]:
        params_list(params, "sequencer_status", 0, 0)
        return ctx.status()

    return {
        "web3_clientVersion": web3_client_version,
        "web3_sha3": web3_sha3,
        **chain_id_methods(chain_id),
        "eth_syncing": eth_syncing,
        "net_listening": net_listening,
        "net_peerCount": net_peer_count,
        "sequencer_status": sequencer_status,
    }
