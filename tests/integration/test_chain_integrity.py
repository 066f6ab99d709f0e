"""The chain a sequencer produces is a valid Ethereum chain, checked independently of its code.

A workload of transfers (three transaction types), contract deployments, storage writes and
clears, CREATE2, ERC-20 transfers and reverts runs against the real daemon. Then, using only
JSON-RPC answers, py-trie and py-evm:
  * every block hash is recomputed from the header RLP built from the JSON fields;
  * parent links, transactions roots and receipts roots are recomputed with py-trie;
  * every block is imported through py-evm's own chain API, which re-executes it and checks
    the state root, receipts root, gas used and bloom;
  * a restart on the same data dir continues the same chain.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
import rlp
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.blocks import PragueBlock, PragueBlockHeader
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from trie.hexary import HexaryTrie
from web3 import Web3
from web3.types import Nonce

from sequencer.bridge.withdrawals import predeploys
from tests.support.accounts import DEV_KEYS
from tests.support.contracts import load_artifact
from tests.support.daemon import Daemon, start_daemon, write_config
from tests.support.rpc import request

CHAIN_ID = 1337
GWEI = 10**9


class Workload:
    """Signs and sends transactions for the dev accounts, tracking nonces locally."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.accounts = [Account.from_key(k) for k in DEV_KEYS]
        self.nonces = {a.address: w3.eth.get_transaction_count(a.address) for a in self.accounts}
        self.sent: list[bytes] = []

    def send(self, sender: LocalAccount, wait: bool = True, **fields: Any) -> Any:
        tx: dict[str, Any] = {
            "chainId": CHAIN_ID,
            "nonce": self.nonces[sender.address],
            "gas": 21_000,
            **fields,
        }
        if "gasPrice" not in tx and tx.get("type") != 1:
            tx.setdefault("maxFeePerGas", 10 * GWEI)
            tx.setdefault("maxPriorityFeePerGas", 1)
            tx.setdefault("type", 2)
        signed = sender.sign_transaction(tx)
        self.nonces[sender.address] = Nonce(self.nonces[sender.address] + 1)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        self.sent.append(bytes(tx_hash))
        if wait:
            return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.005)
        return tx_hash


def run_workload(w3: Web3) -> None:
    wl = Workload(w3)
    a = wl.accounts
    fresh = Account.create().address
    # three transaction types, a zero-value transfer to a new (empty, EIP-161) account, self-transfer
    wl.send(a[0], to=a[1].address, value=10**18)
    wl.send(a[1], to=fresh, value=5, type=1, gasPrice=2 * GWEI, accessList=[])
    wl.send(a[2], to=a[3].address, value=7, gasPrice=3 * GWEI)
    wl.send(a[3], to=Account.create().address, value=0)
    wl.send(a[4], to=a[4].address, value=1)
    # contracts: storage writes and clears, events, CREATE and CREATE2, ERC-20, reverts
    storage = load_artifact("SimpleStorage")
    st_addr = wl.send(a[0], data=storage["bytecode"], gas=500_000)["contractAddress"]
    st = w3.eth.contract(address=st_addr, abi=storage["abi"])
    wl.send(a[0], to=st_addr, data=st.encode_abi("set", [5]), gas=100_000)
    wl.send(a[0], to=st_addr, data=st.encode_abi("setSlot", [3, 77]), gas=100_000)
    wl.send(a[0], to=st_addr, data=st.encode_abi("clearSlot", [3]), gas=100_000)
    factory_art = load_artifact("Factory")
    f_addr = wl.send(a[5], data=factory_art["bytecode"], gas=1_000_000)["contractAddress"]
    factory = w3.eth.contract(address=f_addr, abi=factory_art["abi"])
    wl.send(a[5], to=f_addr, data=factory.encode_abi("deploy", [b"\x01" * 32]), gas=500_000)
    wl.send(
        a[5], to=f_addr, data=factory.encode_abi("deploy", [b"\x01" * 32]), gas=500_000
    )  # collides: reverts
    wl.send(a[5], to=f_addr, data=factory.encode_abi("deployPlain", []), gas=500_000)
    token_art = load_artifact("TestToken")
    t_addr = wl.send(
        a[6],
        data=w3.eth.contract(abi=token_art["abi"], bytecode=token_art["bytecode"])
        .constructor(10**24)
        .data_in_transaction,
        gas=2_000_000,
    )["contractAddress"]
    token = w3.eth.contract(address=t_addr, abi=token_art["abi"])
    # a burst of ERC-20 transfers and plain transfers in the same mini-blocks
    hashes = []
    for i in range(20):
        hashes.append(
            wl.send(
                a[6],
                wait=False,
                to=t_addr,
                data=token.encode_abi("transfer", [a[7].address, i + 1]),
                gas=100_000,
            )
        )
        hashes.append(wl.send(a[8], wait=False, to=a[9].address, value=i + 1))
    wl.send(
        a[7], to=t_addr, data=token.encode_abi("transfer", [a[8].address, 10**30]), gas=100_000
    )  # reverts
    for h in hashes:
        assert w3.eth.wait_for_transaction_receipt(h, timeout=10, poll_latency=0.005)["status"] == 1


@pytest.fixture(scope="module")
def produced_chain(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("integrity")
    # floor 0: the base fee follows plain EIP-1559, which py-evm's reference path computes itself
    config = write_config(base / "chain.toml", floor="0")
    daemon = start_daemon(base / "data", "--evm-block-ms", "200", config=config)
    try:
        w3 = Web3(Web3.HTTPProvider(daemon.url, request_kwargs={"timeout": 10}))
        run_workload(w3)
        target = w3.eth.block_number + 2  # let the last transactions' block be sealed
        deadline = time.monotonic() + 10
        while w3.eth.block_number < target:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield daemon, w3, config
    finally:
        daemon.kill()


def fetch_chain(w3: Web3) -> list[dict[str, Any]]:
    head = w3.eth.block_number
    return [request(w3, "eth_getBlockByNumber", [hex(n), True])["result"] for n in range(head + 1)]


def _int(v: str) -> int:
    return int(v, 16)


def _b(v: str) -> bytes:
    return bytes.fromhex(v[2:])


def header_from_json(block: dict[str, Any]) -> PragueBlockHeader:
    fields: dict[str, Any] = dict(
        difficulty=_int(block["difficulty"]),
        block_number=_int(block["number"]),
        gas_limit=_int(block["gasLimit"]),
        timestamp=_int(block["timestamp"]),
        coinbase=_b(block["miner"]),
        parent_hash=_b(block["parentHash"]),
        uncles_hash=_b(block["sha3Uncles"]),
        state_root=_b(block["stateRoot"]),
        transaction_root=_b(block["transactionsRoot"]),
        receipt_root=_b(block["receiptsRoot"]),
        bloom=_int(block["logsBloom"]),
        gas_used=_int(block["gasUsed"]),
        extra_data=_b(block["extraData"]),
        mix_hash=_b(block["mixHash"]),
        nonce=_b(block["nonce"]),
        base_fee_per_gas=_int(block["baseFeePerGas"]),
        withdrawals_root=_b(block["withdrawalsRoot"]),
        blob_gas_used=_int(block["blobGasUsed"]),
        excess_blob_gas=_int(block["excessBlobGas"]),
        parent_beacon_block_root=_b(block["parentBeaconBlockRoot"]),
        requests_hash=_b(block["requestsHash"]),
    )
    return PragueBlockHeader(**fields)


def trie_root(items: list[bytes]) -> bytes:
    t = HexaryTrie({})
    for i, item in enumerate(items):
        t[rlp.encode(i)] = item
    root: bytes = t.root_hash
    return root


def encode_receipt(r: dict[str, Any]) -> bytes:
    logs = [[_b(log["address"]), [_b(t) for t in log["topics"]], _b(log["data"])] for log in r["logs"]]
    payload: bytes = rlp.encode([_int(r["status"]), _int(r["cumulativeGasUsed"]), _b(r["logsBloom"]), logs])
    tx_type = _int(r["type"])
    return payload if tx_type == 0 else bytes([tx_type]) + payload


def raw_transactions(w3: Web3, block: dict[str, Any]) -> list[bytes]:
    return [
        _b(request(w3, "eth_getRawTransactionByHash", [tx["hash"]])["result"]) for tx in block["transactions"]
    ]


def test_every_block_hash_recomputes_from_its_header_rlp(produced_chain: Any) -> None:
    _daemon, w3, _ = produced_chain
    blocks = fetch_chain(w3)
    assert len(blocks) > 3
    for block in blocks:
        header = header_from_json(block)
        assert "0x" + keccak(rlp.encode(header)).hex() == block["hash"], f"block {block['number']}"


def test_parent_links_and_roots_recompute_with_an_independent_trie(produced_chain: Any) -> None:
    _daemon, w3, _ = produced_chain
    blocks = fetch_chain(w3)
    assert sum(len(b["transactions"]) for b in blocks) >= 50
    for parent, block in itertools.pairwise(blocks):
        assert block["parentHash"] == parent["hash"]
        assert _int(block["number"]) == _int(parent["number"]) + 1
        assert _int(block["timestamp"]) > _int(parent["timestamp"])
        raws = raw_transactions(w3, block)
        assert [("0x" + keccak(r).hex()) for r in raws] == [tx["hash"] for tx in block["transactions"]]
        assert "0x" + trie_root(raws).hex() == block["transactionsRoot"]
        receipts = [
            request(w3, "eth_getTransactionReceipt", [tx["hash"]])["result"] for tx in block["transactions"]
        ]
        assert "0x" + trie_root([encode_receipt(r) for r in receipts]).hex() == block["receiptsRoot"]
        assert sum(_int(r["gasUsed"]) for r in receipts) == _int(block["gasUsed"])
        bloom = 0
        for r in receipts:
            bloom |= _int(r["logsBloom"])
            assert r["blockHash"] == block["hash"]
        assert bloom == _int(block["logsBloom"])


@pytest.fixture(scope="module")
def reference_chain(produced_chain: Any) -> tuple[Any, list[dict[str, Any]]]:
    """Every produced block imported through py-evm's chain API (which re-executes it and
    validates state root, receipts root, gas used and bloom)."""
    _daemon, w3, _ = produced_chain
    blocks = fetch_chain(w3)
    genesis_state = {
        _b(a.address): {"balance": 10_000 * 10**18, "nonce": 0, "code": b"", "storage": {}}
        for a in (Account.from_key(k) for k in DEV_KEYS)
    }
    for predeploy in predeploys():  # the bridge's message passer, in every L2 genesis
        genesis_state[predeploy.address] = {"balance": 0, "nonce": 0, "code": predeploy.code, "storage": {}}
    accepted = (
        "gas_limit",
        "difficulty",
        "timestamp",
        "coinbase",
        "nonce",
        "extra_data",
        "mix_hash",
        "base_fee_per_gas",
        "blob_gas_used",
        "excess_blob_gas",
        "parent_beacon_block_root",
        "requests_hash",
    )
    params = {k: v for k, v in header_from_json(blocks[0]).as_dict().items() if k in accepted}
    chain_class = MiningChain.configure(
        __name__="ReferenceChain", vm_configuration=((0, PragueVM),), chain_id=CHAIN_ID
    )
    chain = chain_class.from_genesis(AtomicDB(), params, genesis_state)  # type: ignore[arg-type]
    assert chain.get_canonical_head().hash == _b(blocks[0]["hash"]), "genesis differs"
    builder = PragueVM.get_transaction_builder()
    for block in blocks[1:]:
        header = header_from_json(block)
        txs = [builder.decode(raw) for raw in raw_transactions(w3, block)]
        imported = chain.import_block(PragueBlock(header=header, transactions=txs, uncles=[], withdrawals=[]))
        ref = imported.imported_block.header
        assert ref.state_root == header.state_root, f"state root of block {header.block_number}"
        assert ref.receipt_root == header.receipt_root
        assert ref.gas_used == header.gas_used
        assert ref.hash == _b(block["hash"])
    return chain, blocks


def test_py_evm_reference_path_agrees_on_every_block(reference_chain: Any) -> None:
    chain, blocks = reference_chain
    assert chain.get_canonical_head().hash == _b(blocks[-1]["hash"])
    assert sum(len(b["transactions"]) for b in blocks) >= 50


def test_state_at_every_block_matches_py_evm(produced_chain: Any, reference_chain: Any) -> None:
    """eth_getBalance / eth_getTransactionCount / eth_getCode / eth_getStorageAt at a block
    number read the state after that block, as py-evm has it."""
    _daemon, w3, _ = produced_chain
    chain, blocks = reference_chain
    addresses = {Account.from_key(k).address for k in DEV_KEYS}
    for block in blocks:
        for tx in block["transactions"]:
            receipt = w3.eth.get_transaction_receipt(tx["hash"])
            if receipt["contractAddress"]:
                addresses.add(receipt["contractAddress"])
    for block in blocks:
        number = _int(block["number"])
        state = chain.get_vm(chain.get_canonical_block_header_by_number(number)).state
        for address in sorted(addresses):
            raw = _b(address)
            assert w3.eth.get_balance(address, number) == state.get_balance(raw), (address, number)
            assert w3.eth.get_transaction_count(address, number) == state.get_nonce(raw), (address, number)
            assert w3.eth.get_code(address, number) == state.get_code(raw), (address, number)
            for slot in (0, 1, 2):
                got = int.from_bytes(w3.eth.get_storage_at(address, slot, number), "big")
                assert got == state.get_storage(raw, slot), (address, slot, number)
    # a block hash selects the same state as its number (EIP-1898)
    middle = blocks[len(blocks) // 2]
    probe = Account.from_key(DEV_KEYS[0]).address
    by_hash = request(w3, "eth_getBalance", [probe, {"blockHash": middle["hash"]}])["result"]
    assert int(by_hash, 16) == w3.eth.get_balance(probe, _int(middle["number"]))


def test_restart_on_the_same_data_dir_continues_the_chain(produced_chain: Any) -> None:
    daemon, w3, config = produced_chain
    probe = [Account.from_key(k).address for k in DEV_KEYS]
    before_blocks = fetch_chain(w3)
    before_balances = [w3.eth.get_balance(a) for a in probe]
    before_nonces = [w3.eth.get_transaction_count(a) for a in probe]

    assert daemon.stop() == 0, daemon.log()
    restarted: Daemon = start_daemon(daemon.data_dir, "--evm-block-ms", "200", config=config)
    try:
        w3b = Web3(Web3.HTTPProvider(restarted.url, request_kwargs={"timeout": 10}))
        head = w3b.eth.get_block("latest")
        assert head["number"] >= len(before_blocks) - 1
        for old in before_blocks:
            assert request(w3b, "eth_getBlockByNumber", [old["number"], True])["result"] == old
        assert [w3b.eth.get_balance(a) for a in probe] == before_balances
        assert [w3b.eth.get_transaction_count(a) for a in probe] == before_nonces
        # the chain goes on: the next block links to the head the restarted node resumed from
        deadline = time.monotonic() + 10
        while w3b.eth.block_number < head["number"] + 1:
            assert time.monotonic() < deadline, "no block sealed after restart"
            time.sleep(0.05)
        assert w3b.eth.get_block(head["number"] + 1)["parentHash"] == head["hash"]
    finally:
        assert restarted.stop() == 0, restarted.log()
