"""Smoke-test the compiled artifacts in tests/fixtures/contracts on py-evm Prague.

Run with:  .venv/bin/python contracts/check_artifacts.py

Builds an in-memory py-evm MiningChain (PragueVM from block 0, one funded
account), deploys every artifact with signed EIP-1559 transactions and
exercises the main entry points. Exits non-zero on the first failure.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import rlp
from eth import constants
from eth.chains.base import MiningChain
from eth.consensus.noproof import NoProofConsensus
from eth.db.atomic import AtomicDB
from eth.vm.forks.prague import PragueVM
from eth.vm.spoof import SpoofTransaction
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector, keccak, to_canonical_address
from web3 import Web3

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "fixtures" / "contracts"
CHAIN_ID = 1337
GAS_PRICE = 10**10  # 10 gwei max fee; genesis base fee is 1 gwei

# Well-known throwaway dev key (never use for anything real).
SENDER = Account.from_key("0x" + "11" * 32)
OTHER = Account.from_key("0x" + "22" * 32)

w3 = Web3()  # offline: used only for ABI encoding


def load(name: str) -> dict[str, Any]:
    art = json.loads((ARTIFACTS / f"{name}.json").read_text())
    required = {
        "contractName",
        "abi",
        "bytecode",
        "deployedBytecode",
        "compiler",
        "evmVersion",
        "sourceFile",
    }
    missing = required - art.keys()
    assert not missing, f"{name}.json missing keys {missing}"
    assert art["contractName"] == name
    assert art["bytecode"].startswith("0x") and len(art["bytecode"]) > 2
    assert art["deployedBytecode"].startswith("0x") and len(art["deployedBytecode"]) > 2
    assert (ROOT / art["sourceFile"]).is_file(), art["sourceFile"]
    return art


def make_chain() -> MiningChain:
    klass = MiningChain.configure(
        __name__="PragueTestChain",
        vm_configuration=(
            (
                constants.GENESIS_BLOCK_NUMBER,
                PragueVM.configure(consensus_class=NoProofConsensus),
            ),
        ),
        chain_id=CHAIN_ID,
    )
    genesis_params = {
        "difficulty": 0,
        "gas_limit": 30_000_000,
        "timestamp": 1_700_000_000,
        "coinbase": constants.ZERO_ADDRESS,
        "extra_data": b"",
        "nonce": b"\x00" * 8,
        "mix_hash": constants.ZERO_HASH32,
    }
    genesis_state = {
        to_canonical_address(SENDER.address): {
            "balance": 10**24,
            "nonce": 0,
            "code": b"",
            "storage": {},
        }
    }
    return klass.from_genesis(AtomicDB(), genesis_params, genesis_state)


class Harness:
    def __init__(self) -> None:
        self.chain = make_chain()
        self.nonce = 0

    def send(self, to: bytes | None, data: bytes, value: int = 0, gas: int = 3_000_000):
        tx = {
            "type": 2,
            "chainId": CHAIN_ID,
            "nonce": self.nonce,
            "to": Web3.to_checksum_address(to) if to else b"",
            "value": value,
            "gas": gas,
            "maxFeePerGas": GAS_PRICE,
            "maxPriorityFeePerGas": 10**9,
            "data": data,
        }
        if to is None:
            del tx["to"]
        signed = SENDER.sign_transaction(tx)
        self.nonce += 1
        vm = self.chain.get_vm()
        evm_tx = vm.get_transaction_builder().decode(bytes(signed.raw_transaction))
        _, receipt, computation = self.chain.apply_transaction(evm_tx)
        block = self.chain.mine_block()
        assert len(block.transactions) == 1
        return receipt, computation

    def call(self, to: bytes, data: bytes) -> bytes:
        """eth_call-style read via a costless, unsigned-sender execution."""
        vm = self.chain.get_vm()
        unsigned = vm.create_unsigned_transaction(
            nonce=self.nonce,
            gas_price=GAS_PRICE,
            gas=3_000_000,
            to=to,
            value=0,
            data=data,
        )
        # py-evm's costless execution copies the tx with gas_price=0, which would
        # break signature-based sender recovery, so spoof the sender instead.
        tx = SpoofTransaction(unsigned, from_=to_canonical_address(SENDER.address))
        return self.chain.get_transaction_result(tx, self.chain.get_canonical_head())

    def deploy(self, name: str, *args: Any) -> tuple[bytes, Any]:
        art = load(name)
        contract = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        data = bytes.fromhex(contract.constructor(*args).data_in_transaction[2:])
        receipt, computation = self.send(None, data)
        assert computation.is_success, f"{name} deploy failed: {computation.error!r}"
        addr = computation.msg.storage_address
        code = self.chain.get_vm().state.get_code(addr)
        assert "0x" + code.hex() == art["deployedBytecode"], f"{name}: runtime code != deployedBytecode"
        print(
            f"OK deploy {name:<14} at 0x{addr.hex()} (gas used {receipt.gas_used}, {len(code)} bytes runtime)"
        )
        return addr, w3.eth.contract(abi=art["abi"])


def enc(contract: Any, fn: str, *args: Any) -> bytes:
    return bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:])


def main() -> int:
    h = Harness()
    print(f"chain: py-evm {type(h.chain.get_vm()).__name__}, chain id {CHAIN_ID}")
    for name in ("TestToken", "Reverter", "SimpleStorage", "Factory", "Child"):
        art = load(name)
        print(f"artifact {name}: {art['compiler']}, evmVersion={art['evmVersion']}")

    sender = to_canonical_address(SENDER.address)
    other = to_canonical_address(OTHER.address)
    transfer_topic = keccak(text="Transfer(address,address,uint256)")

    # ---- TestToken --------------------------------------------------------
    supply = 1_000_000 * 10**18
    token_addr, token = h.deploy("TestToken", supply)
    assert abi_decode(["string"], h.call(token_addr, enc(token, "name")))[0] == "Test Token"
    assert abi_decode(["string"], h.call(token_addr, enc(token, "symbol")))[0] == "TST"
    assert abi_decode(["uint8"], h.call(token_addr, enc(token, "decimals")))[0] == 18
    assert abi_decode(["uint256"], h.call(token_addr, enc(token, "totalSupply")))[0] == supply

    receipt, comp = h.send(token_addr, enc(token, "transfer", OTHER.address, 123))
    assert comp.is_success, comp.error
    assert abi_decode(["bool"], comp.output)[0] is True
    logs = receipt.logs
    assert len(logs) == 1 and logs[0].address == token_addr
    assert logs[0].topics[0] == int.from_bytes(transfer_topic, "big")
    assert logs[0].topics[1] == int.from_bytes(sender, "big")
    assert logs[0].topics[2] == int.from_bytes(other, "big")
    assert abi_decode(["uint256"], logs[0].data)[0] == 123
    bal = abi_decode(["uint256"], h.call(token_addr, enc(token, "balanceOf", OTHER.address)))[0]
    assert bal == 123
    print(f"OK TestToken.transfer -> Transfer event, balanceOf(other)={bal}")

    # approve + transferFrom (sender approves itself, then pulls)
    receipt, comp = h.send(token_addr, enc(token, "approve", SENDER.address, 50))
    assert comp.is_success and len(receipt.logs) == 1
    receipt, comp = h.send(token_addr, enc(token, "transferFrom", SENDER.address, OTHER.address, 50))
    assert comp.is_success, comp.error
    allowance = abi_decode(
        ["uint256"],
        h.call(token_addr, enc(token, "allowance", SENDER.address, SENDER.address)),
    )[0]
    assert allowance == 0
    print("OK TestToken.approve/transferFrom/allowance")

    # overspend -> InsufficientBalance(account, balance, needed)
    receipt, comp = h.send(token_addr, enc(token, "transfer", OTHER.address, supply * 2), gas=200_000)
    assert comp.is_error
    sel = function_signature_to_4byte_selector("InsufficientBalance(address,uint256,uint256)")
    out = comp.output
    assert out[:4] == sel, out.hex()
    acct, balance, needed = abi_decode(["address", "uint256", "uint256"], out[4:])
    assert acct.lower() == SENDER.address.lower() and balance == supply - 173 and needed == supply * 2
    print(f"OK TestToken.transfer overspend reverts InsufficientBalance (selector 0x{sel.hex()})")

    # ---- Reverter ---------------------------------------------------------
    rev_addr, rev = h.deploy("Reverter")
    assert abi_decode(["uint256"], h.call(rev_addr, enc(rev, "ok")))[0] == 42
    print("OK Reverter.ok() == 42")

    receipt, comp = h.send(rev_addr, enc(rev, "failCustom", 7), gas=100_000)
    assert comp.is_error
    sel = function_signature_to_4byte_selector("Unauthorized(address,uint256)")
    assert comp.output[:4] == sel, comp.output.hex()
    caller, code = abi_decode(["address", "uint256"], comp.output[4:])
    assert caller.lower() == SENDER.address.lower() and code == 7
    print(
        "OK Reverter.failCustom(7) reverts Unauthorized(sender, 7), "
        f"data 0x{comp.output.hex()[:8]}... (selector 0x{sel.hex()})"
    )

    receipt, comp = h.send(rev_addr, enc(rev, "failRequire"), gas=100_000)
    assert comp.is_error and comp.output[:4] == function_signature_to_4byte_selector("Error(string)")
    assert abi_decode(["string"], comp.output[4:])[0] == "nope"
    print('OK Reverter.failRequire reverts Error("nope")')

    panic_sel = function_signature_to_4byte_selector("Panic(uint256)")
    receipt, comp = h.send(rev_addr, enc(rev, "failPanic"), gas=100_000)
    assert comp.is_error and comp.output[:4] == panic_sel
    assert abi_decode(["uint256"], comp.output[4:])[0] == 0x01
    receipt, comp = h.send(rev_addr, enc(rev, "divide", 1, 0), gas=100_000)
    assert comp.is_error and comp.output[:4] == panic_sel
    assert abi_decode(["uint256"], comp.output[4:])[0] == 0x12
    print("OK Reverter.failPanic reverts Panic(0x01); divide(1,0) reverts Panic(0x12)")

    inc_topic = int.from_bytes(keccak(text="Incremented(address,uint256)"), "big")
    for expected in (1, 2):
        receipt, comp = h.send(rev_addr, enc(rev, "increment"))
        assert comp.is_success, comp.error
        assert len(receipt.logs) == 1
        log = receipt.logs[0]
        assert log.address == rev_addr and log.topics[0] == inc_topic
        assert log.topics[1] == int.from_bytes(sender, "big")
        assert abi_decode(["uint256"], log.data)[0] == expected
    assert abi_decode(["uint256"], h.call(rev_addr, enc(rev, "counter")))[0] == 2
    print("OK Reverter.increment x2 -> Incremented(sender, 1), Incremented(sender, 2); counter == 2")

    # ---- SimpleStorage ----------------------------------------------------
    st_addr, st = h.deploy("SimpleStorage")
    receipt, comp = h.send(st_addr, enc(st, "set", 5))
    assert comp.is_success and len(receipt.logs) == 1
    receipt, comp = h.send(st_addr, enc(st, "set", 9))
    log = receipt.logs[0]
    assert log.topics[0] == int.from_bytes(keccak(text="ValueChanged(uint256,uint256)"), "big")
    assert log.topics[1] == 5 and abi_decode(["uint256"], log.data)[0] == 9
    state = h.chain.get_vm().state
    assert state.get_storage(st_addr, 0) == 9
    receipt, comp = h.send(st_addr, enc(st, "setSlot", 3, 77))
    assert comp.is_success
    slot = int.from_bytes(keccak((3).to_bytes(32, "big") + (1).to_bytes(32, "big")), "big")
    assert h.chain.get_vm().state.get_storage(st_addr, slot) == 77
    assert abi_decode(["uint256"], h.call(st_addr, enc(st, "slots", 3)))[0] == 77
    receipt, comp = h.send(st_addr, enc(st, "clearSlot", 3))
    assert comp.is_success
    assert h.chain.get_vm().state.get_storage(st_addr, slot) == 0
    print(
        f"OK SimpleStorage set/ValueChanged(5->9), setSlot(3,77) at slot 0x{slot:064x}, clearSlot zeroes it"
    )

    # ---- Factory / Child ----------------------------------------------------
    fac_addr, fac = h.deploy("Factory")
    child_art = load("Child")
    deployed_topic = int.from_bytes(keccak(text="Deployed(address)"), "big")
    salt = b"\x42" * 32
    receipt, comp = h.send(fac_addr, enc(fac, "deploy", salt))
    assert comp.is_success, comp.error
    child = to_canonical_address(abi_decode(["address"], comp.output)[0])
    init_code = bytes.fromhex(child_art["bytecode"][2:])
    expected = keccak(b"\xff" + fac_addr + salt + keccak(init_code))[12:]
    assert child == expected, (child.hex(), expected.hex())
    predicted = to_canonical_address(
        abi_decode(["address"], h.call(fac_addr, enc(fac, "computeAddress", salt)))[0]
    )
    assert predicted == child
    assert len(receipt.logs) == 1 and receipt.logs[0].topics[0] == deployed_topic
    assert to_canonical_address(abi_decode(["address"], receipt.logs[0].data)[0]) == child
    state = h.chain.get_vm().state
    assert "0x" + state.get_code(child).hex() == child_art["deployedBytecode"]
    assert state.get_storage(child, 0) == int.from_bytes(fac_addr, "big")
    print(
        f"OK Factory.deploy(salt) CREATE2 -> 0x{child.hex()} "
        "(matches keccak(0xff++factory++salt++initcode)); Child slot0 = factory"
    )

    receipt, comp = h.send(fac_addr, enc(fac, "deploy", salt), gas=500_000)
    assert comp.is_error
    print("OK Factory.deploy(same salt) reverts (CREATE2 collision)")

    receipt, comp = h.send(fac_addr, enc(fac, "deployPlain"))
    assert comp.is_success, comp.error
    plain = to_canonical_address(abi_decode(["address"], comp.output)[0])
    # factory nonce: 1 at creation (EIP-161) +1 for the CREATE2 child => 2
    expected_plain = keccak(rlp.encode([fac_addr, 2]))[12:]
    assert plain == expected_plain, (plain.hex(), expected_plain.hex())
    assert len(receipt.logs) == 1 and receipt.logs[0].topics[0] == deployed_topic
    assert h.chain.get_vm().state.get_storage(plain, 0) == int.from_bytes(fac_addr, "big")
    print(f"OK Factory.deployPlain CREATE -> 0x{plain.hex()}; Deployed event emitted")

    print(f"ALL OK ({h.chain.get_canonical_head().block_number} blocks mined)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
