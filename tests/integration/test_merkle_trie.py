"""The portal's Merkle-Patricia proof checker (``contracts/src/l1/lib/``), run on a real L1 (anvil).

Checked against proofs made by two implementations: the project's own trie
(:mod:`sequencer.trie.mpt`, what ``eth_getProof`` and ``bridge_getWithdrawalProof`` serve) and
py-trie (installed with py-evm). Every key present proves its value; every key absent proves its
absence (an empty branch slot, a leaf or an extension leading elsewhere); secure-trie keys
(hashed, as storage slots are) likewise. Proofs that are wrong revert with their error: a node
changed, a node missing, a node too many, another trie's root, a node that is not RLP.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_hash.auto import keccak
from trie.hexary import HexaryTrie
from web3.contract import Contract
from web3.exceptions import ContractCustomError

from sequencer import fastrlp
from sequencer.settlement.keys import DEV_KEYS
from sequencer.trie.mpt import EMPTY_ROOT, MerklePatriciaTrie
from tests.support.anvil import start_anvil
from tests.support.contracts import load_artifact

DEPLOYER = Account.from_key(DEV_KEYS[0])


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Contract]:
    node = start_anvil(tmp_path_factory.mktemp("anvil"), block_time=None)
    try:
        w3 = node.w3()
        art = load_artifact("MerkleTrieHarness")
        tx_hash = (
            w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
            .constructor()
            .transact({"from": DEPLOYER.address})
        )
        address: Any = w3.eth.wait_for_transaction_receipt(tx_hash)["contractAddress"]
        contract: Contract = w3.eth.contract(address=address, abi=art["abi"])
        yield contract
    finally:
        node.stop()


def get(
    harness: Contract, key: bytes, proof: list[bytes], root: bytes, secure: bool = False
) -> tuple[bool, bytes]:
    fn = harness.functions.secureGet if secure else harness.functions.get
    found, value = fn(key, proof, root).call()
    return bool(found), bytes(value)


def error_of(harness: Contract, name: str) -> str:
    return "0x" + keccak(f"{name}()".encode())[:4].hex()


def reverts(harness: Contract, name: str, key: bytes, proof: list[bytes], root: bytes) -> None:
    with pytest.raises(ContractCustomError) as raised:
        harness.functions.get(key, proof, root).call()
    assert raised.value.data == error_of(harness, name)


def py_trie_proof(t: HexaryTrie, key: bytes) -> list[bytes]:
    """py-trie's proof as eth_getProof gives it: encoded nodes, the embedded ones left inside their parent."""
    nodes = [rlp.encode(n) for n in t.get_proof(key)]
    return [n for i, n in enumerate(nodes) if i == 0 or len(n) >= 32]


@pytest.mark.parametrize("size", [1, 2, 17, 300])
def test_the_projects_trie_proves_every_key_present_and_absent(harness: Contract, size: int) -> None:
    rng = random.Random(size)
    trie = MerklePatriciaTrie()
    items = {keccak(rng.randbytes(8)): fastrlp.encode(rng.randrange(1, 2**64)) for _ in range(size)}
    for k, v in items.items():
        trie.set(k, v)
    root = trie.root_hash()
    for k in list(items)[:12]:
        assert get(harness, k, trie.proof(k), root) == (True, items[k])
    for _ in range(6):
        absent = keccak(rng.randbytes(9))
        assert get(harness, absent, trie.proof(absent), root) == (False, b"")


def test_py_trie_proofs_with_extensions_embedded_nodes_and_values_in_branches(harness: Contract) -> None:
    t = HexaryTrie(db={})
    entries = {
        b"do": b"verb",
        b"dog": b"puppy",
        b"doge": b"coin",
        b"horse": b"stallion",
        b"\x01\x02\x03": b"x",
    }
    entries |= {bytes([0xAB, i]): bytes([i]) * (i % 40 + 1) for i in range(40)}
    for k, v in entries.items():
        t[k] = v
    embedded = 0
    for k, v in entries.items():
        proof = py_trie_proof(t, k)
        embedded += len(proof) < len(t.get_proof(k))
        assert get(harness, k, proof, t.root_hash) == (True, v)
    assert embedded > 0  # some of those paths end in nodes embedded in their parent
    for absent in (b"d", b"dot", b"dogs", b"horses", b"\xab", b"\xab\x99", b"\x01\x02", b"zebra"):
        assert get(harness, absent, py_trie_proof(t, absent), t.root_hash) == (False, b"")


def test_a_storage_slot_is_proven_in_the_secure_trie(harness: Contract) -> None:
    t = HexaryTrie(db={})
    slots = {i: keccak(bytes([i])) for i in range(10)}
    for slot, value in slots.items():
        t[keccak(slot.to_bytes(32, "big"))] = rlp.encode(value)
    for slot, value in slots.items():
        key = slot.to_bytes(32, "big")
        proof = py_trie_proof(t, keccak(key))
        assert get(harness, key, proof, t.root_hash, secure=True) == (True, rlp.encode(value))
    assert (
        get(
            harness,
            (99).to_bytes(32, "big"),
            py_trie_proof(t, keccak((99).to_bytes(32, "big"))),
            t.root_hash,
            True,
        )[0]
        is False
    )
    assert get(harness, b"\x00" * 32, [], EMPTY_ROOT, secure=True) == (False, b"")


def test_wrong_proofs_revert_with_their_errors(harness: Contract) -> None:
    trie = MerklePatriciaTrie()
    keys = [keccak(bytes([i])) for i in range(50)]
    for k in keys:
        trie.set(k, b"\x01")
    root, proof = trie.root_hash(), trie.proof(keys[7])
    assert len(proof) >= 2
    changed = bytearray(proof[-1])
    changed[-1] ^= 0x01
    reverts(harness, "BadNodeHash", keys[7], [*proof[:-1], bytes(changed)], root)
    reverts(harness, "BadNodeHash", keys[7], proof, keccak(b"another trie"))
    reverts(harness, "ProofTooShort", keys[7], proof[:-1], root)
    reverts(harness, "ProofTooLong", keys[7], [*proof, proof[-1]], root)
    reverts(harness, "ProofTooShort", keys[7], [], root)
    not_rlp = b"\x01\x02"
    reverts(harness, "InvalidRLP", keys[7], [not_rlp], keccak(not_rlp))
    three_items = rlp.encode([b"a", b"b", b"c"])
    reverts(harness, "InvalidNode", keys[7], [three_items], keccak(three_items))
    # another key's proof, from the same root, leads down another path
    other = trie.proof(keys[8])
    assert other[0] == proof[0] and other[1] != proof[1]
    reverts(harness, "BadNodeHash", keys[7], other, root)
