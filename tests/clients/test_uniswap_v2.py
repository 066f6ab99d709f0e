"""Acceptance: a Uniswap V2 pair (npm ``@uniswap/v2-core``'s own build artifacts) on the daemon.

A pair's first swap after its first mint is the transaction that broke when ``eth_estimateGas``
ran in the wrong environment: in the mint's block ``block.timestamp`` equals the pair's
``blockTimestampLast``, so ``_update`` skips the price accumulators; in any later block it
writes ``price0CumulativeLast`` and ``price1CumulativeLast`` for the first time (two fresh
SSTOREs, ~44k gas). Specified:

* an estimate made while the mint's EVM block is still open is enough gas for the swap when it
  lands in a later block (the node estimates in the open block's and the next block's
  environment and answers the larger);
* the swap sent in a later block than the mint with gas = estimate x 1.2 (the Uniswap
  interface's buffer) succeeds, and writes the accumulators.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import Daemon, start_daemon
from tests.support.tools import npm_package

CHAIN_ID = 1337
GWEI = 10**9
SUPPLY = 10**24
LIQUIDITY = 10**21
AMOUNT_IN = 10**19
SEND_GAS = 5_000_000
EVM_BLOCK_MS = 4000
BLOCK_TIMEOUT_S = 15.0
ATTEMPTS = 3


def artifact(name: str) -> dict[str, Any]:
    build = npm_package("@uniswap/v2-core") / "build"
    data: dict[str, Any] = json.loads((build / f"{name}.json").read_text())
    data["bytecode"] = "0x" + data["bytecode"].removeprefix("0x")
    return data


@dataclass
class Sender:
    """Signs and sends raw transactions from one key with explicit nonces (several per block)."""

    w3: Web3
    account: LocalAccount
    nonce: int

    def send(self, to: str | None, data: str, gas: int = SEND_GAS) -> HexBytes:
        tx: dict[str, Any] = {
            "chainId": CHAIN_ID,
            "nonce": self.nonce,
            "gas": gas,
            "maxFeePerGas": 100 * GWEI,
            "maxPriorityFeePerGas": 0,
            "data": data,
            "value": 0,
        }
        if to is not None:
            tx["to"] = to
        self.nonce += 1
        return self.w3.eth.send_raw_transaction(self.account.sign_transaction(tx).raw_transaction)

    def wait(self, tx_hash: HexBytes) -> TxReceipt:
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.005)

    def deploy(self, name: str, *args: Any) -> Contract:
        a = artifact(name)
        data = (
            self.w3.eth.contract(abi=a["abi"], bytecode=a["bytecode"]).constructor(*args).data_in_transaction
        )
        receipt = self.wait(self.send(None, data))
        assert receipt["status"] == 1 and receipt["contractAddress"] is not None, receipt
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=a["abi"])


@pytest.fixture(scope="module")
def daemon_slow_blocks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """EVM blocks of 4 s: the mint, the transfers and the estimate fit in one open block even on
    a loaded machine (the environments differ by block, not by interval)."""
    d = start_daemon(tmp_path_factory.mktemp("uniswap") / "data", "--evm-block-ms", str(EVM_BLOCK_MS))
    try:
        yield d
        assert d.stop() == 0, d.log()
    finally:
        d.kill()


@pytest.fixture(scope="module")
def w3(daemon_slow_blocks: Daemon) -> Web3:
    return Web3(Web3.HTTPProvider(daemon_slow_blocks.url, request_kwargs={"timeout": 10}))


@pytest.fixture(scope="module")
def sender(w3: Web3) -> Sender:
    account = Account.from_key(DEV_KEYS[0])
    return Sender(w3, account, w3.eth.get_transaction_count(account.address, "pending"))


@pytest.fixture(scope="module")
def factory(sender: Sender) -> Contract:
    return sender.deploy("UniswapV2Factory", sender.account.address)


@dataclass
class Pair:
    contract: Contract
    token_in: Contract
    swap_data: str
    amount_out: int
    mint_block: int


def until_block_above(w3: Web3, number: int) -> int:
    """Wait until ``latest`` (the newest sealed EVM block) is above ``number``."""
    deadline = time.monotonic() + BLOCK_TIMEOUT_S
    while (latest := w3.eth.block_number) <= number:
        assert time.monotonic() < deadline, f"no block above {number} within {BLOCK_TIMEOUT_S}s"
        time.sleep(0.01)
    return latest


def new_pair(w3: Web3, sender: Sender, factory: Contract) -> Pair:
    """A fresh pair, minted, with the first swap's input already transferred in: the mint and the
    transfer land in the EVM block that is open when this returns, if the machine keeps up."""
    a, b = sender.deploy("ERC20", SUPPLY), sender.deploy("ERC20", SUPPLY)
    sender.wait(sender.send(factory.address, factory.encode_abi("createPair", [a.address, b.address])))
    pair_address = factory.functions.getPair(a.address, b.address).call()
    pair = w3.eth.contract(address=pair_address, abi=artifact("UniswapV2Pair")["abi"])
    token0 = pair.functions.token0().call()
    token_in, token_out = (a, b) if a.address == token0 else (b, a)
    until_block_above(w3, w3.eth.block_number)  # start at the beginning of a fresh EVM block
    hashes = [
        sender.send(a.address, a.encode_abi("transfer", [pair_address, LIQUIDITY])),
        sender.send(b.address, b.encode_abi("transfer", [pair_address, LIQUIDITY])),
        sender.send(pair_address, pair.encode_abi("mint", [sender.account.address])),
        sender.send(token_in.address, token_in.encode_abi("transfer", [pair_address, AMOUNT_IN])),
    ]
    receipts = [sender.wait(h) for h in hashes]
    assert [r["status"] for r in receipts] == [1] * 4, receipts
    out = AMOUNT_IN * 997 * LIQUIDITY // (LIQUIDITY * 1000 + AMOUNT_IN * 997)
    amounts = [0, out] if token_in.address == token0 else [out, 0]
    swap_data = pair.encode_abi("swap", [*amounts, sender.account.address, b""])
    assert token_out.functions.balanceOf(sender.account.address).call() == SUPPLY - LIQUIDITY
    return Pair(pair, token_in, swap_data, out, receipts[2]["blockNumber"])


def estimate_swap(w3: Web3, sender: Sender, pair: Pair) -> int:
    return w3.eth.estimate_gas(
        {"from": sender.account.address, "to": pair.contract.address, "data": HexStr(pair.swap_data)}
    )


def swap(sender: Sender, pair: Pair, gas: int) -> TxReceipt:
    receipt = sender.wait(sender.send(pair.contract.address, pair.swap_data, gas=gas))
    assert receipt["blockNumber"] > pair.mint_block, "the swap must land in a later EVM block than the mint"
    return receipt


def test_an_estimate_made_in_the_mints_open_block_is_enough_in_the_next(
    w3: Web3, sender: Sender, factory: Contract
) -> None:
    for _attempt in range(ATTEMPTS):
        pair = new_pair(w3, sender, factory)
        estimate = estimate_swap(w3, sender, pair)
        if w3.eth.block_number < pair.mint_block:  # the mint's block was still open throughout
            break
    else:
        pytest.fail(
            f"the mint's EVM block sealed before the estimate in {ATTEMPTS} attempts (machine too slow)"
        )
    assert pair.contract.functions.price0CumulativeLast().call() == 0
    until_block_above(w3, pair.mint_block)
    receipt = swap(sender, pair, gas=estimate)
    assert receipt["status"] == 1, f"the swap ran out of its estimate {estimate}: {receipt}"
    assert receipt["gasUsed"] <= estimate
    assert pair.contract.functions.price0CumulativeLast().call() > 0  # the accumulators' first SSTOREs
    assert pair.contract.functions.price1CumulativeLast().call() > 0


def test_the_first_swap_after_minting_succeeds_with_the_uniswap_buffer(
    w3: Web3, sender: Sender, factory: Contract
) -> None:
    pair = new_pair(w3, sender, factory)
    until_block_above(w3, pair.mint_block)  # the mint's block is sealed: estimate in a later one
    estimate = estimate_swap(w3, sender, pair)
    receipt = swap(sender, pair, gas=estimate * 12 // 10)
    assert receipt["status"] == 1, receipt
    assert receipt["gasUsed"] <= estimate
    reserves = pair.contract.functions.getReserves().call()
    assert sorted(reserves[:2]) == sorted([LIQUIDITY + AMOUNT_IN, LIQUIDITY - pair.amount_out])
    assert pair.contract.functions.price0CumulativeLast().call() > 0
