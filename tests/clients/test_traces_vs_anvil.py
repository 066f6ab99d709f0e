"""Traces compared field by field with anvil's (npm ``@foundry-rs/anvil-linux-amd64``, the
reference) for the same signed transactions on the same pre-state.

Both nodes start from the same genesis accounts (the ten dev accounts, 10,000 ETH each; chain id
1337; Prague) and receive the same raw transactions, in the same order, from one sender with a
fixed legacy gas price, so every account's balance and nonce, every contract address and every
storage slot is the same on both. For a transfer, an ERC-20 transfer, a call reverting with a
custom error, a contract creating a contract (CREATE and CREATE2) and a Uniswap V2 swap,
``callTracer`` (``withLog``) and ``prestateTracer`` (plain and ``diffMode``) answer the same,
apart from these documented fields (docs/rpc.md, "Tracing"):

* ``callTracer``'s top-level ``gas``: this node reports the transaction's gas limit, as geth does;
  anvil the gas left after the intrinsic gas. Every inner frame's ``gas`` is compared.
* ``callTracer``'s logs: anvil adds ``index`` to each log; geth and this node do not.
* ``prestateTracer``: the coinbase's balance (it earns the priority fee, which depends on each
  chain's base fee); and anvil lists an account the transaction creates, empty before it, which
  geth (and this node) leave out of the pre-state.
* the Uniswap pair's storage derived from ``block.timestamp`` (``blockTimestampLast``, the top 32
  bits of slot 8, and the price accumulators, slots 9 and 10): the two chains' clocks differ.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.anvil import start_anvil
from tests.support.contracts import load_artifact
from tests.support.daemon import Daemon
from tests.support.rpc import request
from tests.support.tools import npm_package

CHAIN_ID = 1337
GAS_PRICE = 5 * 10**9
DEPLOY_GAS = 6_000_000
COINBASE = "0x0000000000000000000000000000000000000000"
RECIPIENT = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
RECEIPT_TIMEOUT_S = 20.0
TIMESTAMP_SLOTS = {"0x" + f"{n:064x}" for n in (9, 10)}
RESERVES_SLOT = "0x" + f"{8:064x}"
RESERVES_MASK = (1 << 224) - 1
CALL_TRACER = {"tracer": "callTracer", "tracerConfig": {"withLog": True}}
PRESTATE = {"tracer": "prestateTracer"}
PRESTATE_DIFF = {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web3]:
    node = start_anvil(
        tmp_path_factory.mktemp("anvil"),
        block_time=None,  # automine: a block per transaction
        extra=("--chain-id", str(CHAIN_ID), "--hardfork", "prague"),
    )
    try:
        yield node.w3(timeout=30)
    finally:
        node.stop()


@dataclass
class Twins:
    """The daemon and anvil, sent the same raw transactions from one key."""

    ours: Web3
    ref: Web3
    key: str = DEV_KEYS[5]
    nonce: int = 0
    created: list[str] = field(default_factory=list)

    def send(self, data: bytes = b"", to: str | None = None, value: int = 0, gas: int = 3_000_000) -> str:
        tx: dict[str, Any] = {
            "chainId": CHAIN_ID,
            "nonce": self.nonce,
            "gasPrice": GAS_PRICE,
            "gas": gas,
            "value": value,
            "data": data,
        }
        if to is not None:
            tx["to"] = Web3.to_checksum_address(to)
        raw = Account.from_key(self.key).sign_transaction(tx).raw_transaction
        self.nonce += 1
        receipts = []
        for w3 in (self.ours, self.ref):
            tx_hash = w3.eth.send_raw_transaction(raw)
            receipts.append(w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S))
        ours, ref = receipts
        assert ours["status"] == ref["status"] and ours["gasUsed"] == ref["gasUsed"], (ours, ref)
        assert ours["contractAddress"] == ref["contractAddress"]
        if ours["contractAddress"] is not None and ours["status"] == 1:
            self.created.append(str(ours["contractAddress"]).lower())
        return HexBytes(ours["transactionHash"]).to_0x_hex()

    def deploy(self, bytecode: str, args: bytes = b"") -> str:
        before = len(self.created)
        self.send(bytes.fromhex(bytecode.removeprefix("0x")) + args, gas=DEPLOY_GAS)
        assert len(self.created) == before + 1, "the deployment failed"
        return self.created[-1]

    def traces(self, tx_hash: str, config: dict[str, Any]) -> tuple[Any, Any]:
        answers = [request(w3, "debug_traceTransaction", [tx_hash, config]) for w3 in (self.ours, self.ref)]
        for answer in answers:
            assert "result" in answer, answer
        return answers[0]["result"], answers[1]["result"]


@pytest.fixture(scope="module")
def twins(daemon: Daemon, anvil: Web3) -> Twins:
    return Twins(Web3(Web3.HTTPProvider(daemon.url, request_kwargs={"timeout": 30})), anvil)


def selector(signature: str) -> bytes:
    return bytes(Web3.keccak(text=signature)[:4])


def call_frames(frame: dict[str, Any], top: bool = True) -> dict[str, Any]:
    """A callTracer frame without its documented differences (top-level gas, anvil's log index)."""
    out = {k: v for k, v in frame.items() if not (top and k == "gas")}
    if "logs" in out:
        out["logs"] = [{k: v for k, v in log.items() if k != "index"} for log in out["logs"]]
    if "calls" in out:
        out["calls"] = [call_frames(c, top=False) for c in out["calls"]]
    return out


def mask_timestamp_storage(accounts: dict[str, Any], pair: str | None) -> None:
    account = accounts.get(pair or "")
    if not account or "storage" not in account:
        return
    storage = account["storage"]
    for slot in TIMESTAMP_SLOTS & set(storage):
        storage[slot] = "<block.timestamp>"
    if RESERVES_SLOT in storage:
        storage[RESERVES_SLOT] = hex(int(storage[RESERVES_SLOT], 16) & RESERVES_MASK)


def prestate_accounts(accounts: dict[str, Any], created: frozenset[str], pair: str | None) -> dict[str, Any]:
    """A prestate map without the documented differences (the coinbase's balance; accounts
    created by the transaction that were empty before it)."""
    out = copy.deepcopy(accounts)
    if COINBASE in out:
        out[COINBASE].pop("balance", None)
        if not out[COINBASE]:
            del out[COINBASE]
    for address in created & set(out):
        account = out[address]
        empty = (
            int(account.get("balance", "0x0"), 16) == 0
            and not account.get("nonce")
            and not account.get("code")
        )
        if empty and not any(int(v, 16) for v in account.get("storage", {}).values()):
            del out[address]
    mask_timestamp_storage(out, pair)
    return out


def assert_same_traces(
    twins: Twins, tx_hash: str, created: frozenset[str] = frozenset(), pair: str | None = None
) -> None:
    ours, ref = twins.traces(tx_hash, CALL_TRACER)
    assert call_frames(ours) == call_frames(ref), json.dumps({"ours": ours, "anvil": ref}, indent=1)
    ours, ref = twins.traces(tx_hash, PRESTATE)
    assert prestate_accounts(ours, created, pair) == prestate_accounts(ref, created, pair), (ours, ref)
    ours, ref = twins.traces(tx_hash, PRESTATE_DIFF)
    for part in ("pre", "post"):
        mine, theirs = (
            prestate_accounts(ours[part], created, pair),
            prestate_accounts(ref[part], created, pair),
        )
        assert mine == theirs, (part, ours, ref)


def uniswap(name: str) -> dict[str, Any]:
    build = npm_package("@uniswap/v2-core") / "build"
    data: dict[str, Any] = json.loads((build / f"{name}.json").read_text())
    return data


def test_a_plain_transfer_traces_as_anvil_does(twins: Twins) -> None:
    tx_hash = twins.send(to=RECIPIENT, value=10**18, gas=21_000)
    assert_same_traces(twins, tx_hash)


def test_an_erc20_transfer_traces_as_anvil_does(twins: Twins) -> None:
    token = twins.deploy(load_artifact("TestToken")["bytecode"], encode(["uint256"], [10**24]))
    data = selector("transfer(address,uint256)") + encode(["address", "uint256"], [RECIPIENT, 5 * 10**18])
    tx_hash = twins.send(data, to=token, gas=100_000)
    ours, _ref = twins.traces(tx_hash, CALL_TRACER)
    assert ours["logs"][0]["topics"][0] == Web3.keccak(text="Transfer(address,address,uint256)").to_0x_hex()
    assert_same_traces(twins, tx_hash)


def test_a_call_reverting_with_a_custom_error_traces_as_anvil_does(twins: Twins) -> None:
    reverter = twins.deploy(load_artifact("Reverter")["bytecode"])
    tx_hash = twins.send(selector("failCustom(uint256)") + encode(["uint256"], [7]), to=reverter, gas=100_000)
    ours, _ref = twins.traces(tx_hash, CALL_TRACER)
    assert ours["error"] == "execution reverted"
    assert ours["output"].startswith("0x" + selector("Unauthorized(address,uint256)").hex())
    assert_same_traces(twins, tx_hash)


@pytest.mark.parametrize("how", ["deployPlain()", "deploy(bytes32)"])
def test_a_contract_creating_a_contract_traces_as_anvil_does(twins: Twins, how: str) -> None:
    factory = twins.deploy(load_artifact("Factory")["bytecode"])
    data = selector(how) + (b"\x07" * 32 if how == "deploy(bytes32)" else b"")
    tx_hash = twins.send(data, to=factory, gas=500_000)
    ours, _ref = twins.traces(tx_hash, CALL_TRACER)
    (child,) = ours["calls"]
    assert child["type"] == ("CREATE" if how == "deployPlain()" else "CREATE2")
    assert_same_traces(twins, tx_hash, created=frozenset({child["to"]}))


def test_a_uniswap_v2_swap_traces_as_anvil_does(twins: Twins) -> None:
    sender = Account.from_key(twins.key).address
    erc20 = uniswap("ERC20")["bytecode"]
    a, b = (twins.deploy(erc20, encode(["uint256"], [10**24])) for _ in range(2))
    factory = twins.deploy(uniswap("UniswapV2Factory")["bytecode"], encode(["address"], [sender]))
    twins.send(selector("createPair(address,address)") + encode(["address", "address"], [a, b]), to=factory)
    pair_of = selector("getPair(address,address)") + encode(["address", "address"], [a, b])
    pair = (
        "0x"
        + bytes(twins.ours.eth.call({"to": Web3.to_checksum_address(factory), "data": pair_of}))[-20:].hex()
    )
    token0 = (
        "0x"
        + bytes(twins.ours.eth.call({"to": Web3.to_checksum_address(pair), "data": selector("token0()")}))[
            -20:
        ].hex()
    )
    transfer = selector("transfer(address,uint256)")
    for token in (a, b):
        twins.send(transfer + encode(["address", "uint256"], [pair, 10**21]), to=token, gas=100_000)
    twins.send(selector("mint(address)") + encode(["address"], [sender]), to=pair, gas=500_000)
    amount_in = 10**19
    twins.send(transfer + encode(["address", "uint256"], [pair, amount_in]), to=a, gas=100_000)
    out = amount_in * 997 * 10**21 // (10**21 * 1000 + amount_in * 997)
    amounts = [0, out] if a == token0 else [out, 0]
    time.sleep(1.1)  # a later second than the mint on both chains: the swap writes the accumulators
    swap = selector("swap(uint256,uint256,address,bytes)") + encode(
        ["uint256", "uint256", "address", "bytes"], [*amounts, sender, b""]
    )
    tx_hash = twins.send(swap, to=pair, gas=500_000)
    ours, _ref = twins.traces(tx_hash, PRESTATE_DIFF)
    assert set(ours["post"][pair]["storage"]) >= TIMESTAMP_SLOTS, "the swap must write the accumulators"
    assert_same_traces(twins, tx_hash, pair=pair)
