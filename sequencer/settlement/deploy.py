"""Deploying the L1 contracts and describing the result in a settlement file (``sequencer l1 deploy``).

The deployer's key sends three transactions: ``SystemConfig`` (owner: the deployer; the roles, the
challenge period, the L2 chain id and the batch inbox), ``L2OutputOracle`` (reading the roles
and the period from that SystemConfig, with the output interval, counting from L2 block 0) and
``OptimismPortal`` (the bridge: deposits, and withdrawals proven against that oracle's outputs,
with the most L2 gas one deposit may buy). The SystemConfig's block is where settlement, and
derivation, start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import TimeExhausted

from sequencer.config import ChainConfig
from sequencer.errors import ConfigError
from sequencer.genesis import genesis_block, genesis_diff
from sequencer.settlement.contracts import L2_OUTPUT_ORACLE, OPTIMISM_PORTAL, SYSTEM_CONFIG, artifact
from sequencer.settlement.settings import (
    BatcherSettings,
    ContractAddresses,
    DerivationSettings,
    L1Settings,
    Roles,
    Settlement,
)
from sequencer.trie.state import StateTrie

RECEIPT_TIMEOUT_S = 120.0
MAX_DEPOSIT_GAS = 20_000_000
"""The most L2 gas one deposit may buy (the portal's ``maxGasLimit``)."""


class DeployError(Exception):
    """The deployment failed on L1 (the message says which step and why)."""


@dataclass(frozen=True, slots=True)
class DeployRequest:
    """What to deploy, where, by whom."""

    l1_rpc: str
    deployer_key: str
    l2_chain_id: int
    l2_genesis_hash: bytes
    l2_genesis_timestamp: int
    batcher: bytes
    proposer: bytes
    challenger: bytes
    challenge_period_s: int
    output_interval_blocks: int
    batch_inbox: bytes
    channel_timeout_l1_blocks: int = 50
    max_deposit_gas: int = MAX_DEPOSIT_GAS


def genesis_hash(chain: ChainConfig) -> bytes:
    """The L2 genesis block's hash (what the settlement file pins the chain to)."""
    trie = StateTrie()
    trie.apply_diff(genesis_diff(chain))
    return genesis_block(chain, trie.root()).hash


def _send(w3: Web3, deployer: Any, tx: dict[str, Any], what: str) -> Any:
    signed = deployer.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    try:
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S, poll_latency=0.2)
    except TimeExhausted:
        raise DeployError(
            f"{what}: not included within {RECEIPT_TIMEOUT_S:g}s (tx 0x{bytes(tx_hash).hex()})"
        ) from None
    if receipt["status"] != 1:
        raise DeployError(f"{what}: reverted (tx 0x{bytes(tx_hash).hex()})")
    return receipt


def deploy(request: DeployRequest, *, report: Callable[[str], None] = lambda _line: None) -> Settlement:
    """Deploy the three contracts; the settlement that describes them. ``report`` hears each step."""
    w3 = Web3(Web3.HTTPProvider(request.l1_rpc, request_kwargs={"timeout": 30}))
    try:
        l1_chain_id = int(w3.eth.chain_id)
    except Exception as exc:
        raise DeployError(f"cannot reach the L1 at {request.l1_rpc}: {exc}") from None
    deployer = Account.from_key(request.deployer_key)
    balance = int(w3.eth.get_balance(deployer.address))
    if balance == 0:
        raise DeployError(f"the deployer {deployer.address} has no funds on L1 chain {l1_chain_id}")
    nonce = int(w3.eth.get_transaction_count(deployer.address, "pending"))
    fees = _fees(w3)

    def create(name: str, *args: Any) -> tuple[bytes, Any]:
        nonlocal nonce
        art = artifact(name)
        contract = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        tx = contract.constructor(*args).build_transaction(
            {"from": deployer.address, "nonce": nonce, "chainId": l1_chain_id, **fees}
        )
        nonce += 1
        receipt = _send(w3, deployer, dict(tx), f"deploying {name}")
        address = bytes.fromhex(str(receipt["contractAddress"])[2:])
        report(f"deployed {name} at {to_checksum_address(address)} (L1 block {receipt['blockNumber']})")
        return address, receipt

    system_config, receipt = create(
        SYSTEM_CONFIG,
        deployer.address,
        to_checksum_address(request.batcher),
        to_checksum_address(request.proposer),
        to_checksum_address(request.challenger),
        request.challenge_period_s,
        request.l2_chain_id,
        to_checksum_address(request.batch_inbox),
    )
    oracle, _ = create(
        L2_OUTPUT_ORACLE, to_checksum_address(system_config), request.output_interval_blocks, 0
    )
    portal, _ = create(OPTIMISM_PORTAL, to_checksum_address(oracle), request.max_deposit_gas)
    start_block = int(receipt["blockNumber"])
    start_hash = bytes(receipt["blockHash"])
    return Settlement(
        l1=L1Settings(request.l1_rpc, l1_chain_id, start_block, start_hash),
        l2_chain_id=request.l2_chain_id,
        l2_genesis_hash=request.l2_genesis_hash,
        l2_genesis_timestamp=request.l2_genesis_timestamp,
        contracts=ContractAddresses(system_config, oracle, request.batch_inbox, portal),
        roles=Roles(request.batcher, request.proposer, request.challenger),
        derivation=DerivationSettings(request.output_interval_blocks, request.channel_timeout_l1_blocks),
        batcher=BatcherSettings(),
    )


def _fees(w3: Web3) -> dict[str, int]:
    latest = w3.eth.get_block("latest")
    base_fee = int(latest.get("baseFeePerGas") or 0)
    tip = int(w3.eth.max_priority_fee)
    return {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}


def check_roles(batcher: bytes, proposer: bytes) -> None:
    """The batcher and the proposer must be different accounts (their nonces would collide)."""
    if batcher == proposer:
        raise ConfigError(
            "the batcher and the proposer must be different addresses (each sends its own nonces)"
        )
