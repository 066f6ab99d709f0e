"""Verifiers following a devnet through its state edits (docs/feed.md, "Devnet events").

Specified: the dev-chain controls that change state without a signed transaction
(``anvil_setBalance``, ``anvil_setCode``, ``anvil_setStorageAt``, ``anvil_setNonce``, a
transaction sent for an impersonated account) and the clock controls (``evm_increaseTime``,
``evm_mine``) are carried on the feed like any other mini-block; a verifier whose config is the
devnet's (``chain.devnet = true``) applies the edits, re-executes the impersonated transaction
for its named sender and the ordinary transactions that depend on the edited state, and reaches
the sequencer's head (the same block hash, so the same state root it recomputed) with no
mismatch, in one process and with ``--workers 2``; the accounts it serves read as the
sequencer's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3

from tests.support.daemon import Daemon, start_daemon
from tests.support.rpc import request
from tests.support.verifier import VerifierProc, start_verifier

DEV_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
GHOST = Web3.to_checksum_address("0x00000000000000000000000000000000deadbeef")
COUNTER = Web3.to_checksum_address("0x000000000000000000000000000000000000c0de")
# slot 0 += 1: PUSH1 0 SLOAD PUSH1 1 ADD PUSH1 0 SSTORE STOP
COUNTER_CODE = "0x600054600101600055" + "00"
KEY = Account.from_key("0x" + "17" * 32)
WAIT_S = 90.0


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, list[VerifierProc]]]:
    """A devnet sequencer (only ``evm_mine`` seals) and two verifiers following it from the start."""
    root = tmp_path_factory.mktemp("devnet-edits")
    d = start_daemon(root / "node", "--evm-block-ms", "60000")
    verifiers: list[VerifierProc] = []
    try:
        verifiers.append(start_verifier(d.feed_url, root / "v1"))
        verifiers.append(start_verifier(d.feed_url, root / "v2", "--workers", "2"))
        yield d, verifiers
    finally:
        for v in verifiers:
            assert v.stop() == 0, v.log()
        d.kill()


def call(w3: Web3, method: str, *params: Any) -> Any:
    answer = request(w3, method, list(params))
    assert "result" in answer, (method, answer)
    return answer["result"]


def mined(w3: Web3, tx_hash: Any) -> None:
    receipt = w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=20)
    assert receipt["status"] == 1, receipt


def send_signed(w3: Web3, to: str, value: int, nonce: int, gas: int = 21_000) -> None:
    tx = {
        "chainId": w3.eth.chain_id,
        "nonce": nonce,
        "to": to,
        "value": value,
        "gas": gas,
        "maxFeePerGas": 10**11,
        "maxPriorityFeePerGas": 1,
    }
    mined(w3, w3.eth.send_raw_transaction(KEY.sign_transaction(tx).raw_transaction))


def verified_head(v: VerifierProc, w3: Web3) -> dict[str, Any]:
    """Wait until the verifier has verified the sequencer's newest block (by hash); its status."""
    head = w3.eth.get_block("latest")
    deadline = time.monotonic() + WAIT_S
    while True:
        status = v.status()
        if status["height"] == head["number"] and status["blockHash"] == HexBytes(head["hash"]).to_0x_hex():
            return status
        assert status["verdict"] == "ok", f"{status}\n{v.log()}"
        assert time.monotonic() < deadline, f"the verifier did not reach block {head['number']}: {status}"
        time.sleep(0.1)


def verifier_read(v: VerifierProc, method: str, *params: Any) -> Any:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method, "params": [*params, "latest"]}
    answer = requests.post(v.status_url, json=body, timeout=5).json()
    assert "result" in answer, answer
    return answer["result"]


def test_verifiers_apply_devnet_state_edits_and_verify_what_depends_on_them(
    devnet: tuple[Daemon, list[VerifierProc]],
) -> None:
    d, verifiers = devnet
    w3 = Web3(Web3.HTTPProvider(d.url, request_kwargs={"timeout": 30}))
    me = KEY.address

    # state edits: a contract's code and storage, an account's nonce, another's balance
    call(w3, "anvil_setCode", COUNTER, COUNTER_CODE)
    call(w3, "anvil_setStorageAt", COUNTER, "0x0", "0x" + f"{41:064x}")
    call(w3, "anvil_setNonce", me, hex(7))
    call(w3, "anvil_setBalance", GHOST, hex(10**19))
    # an impersonated account (funded by the edit) pays the account that then signs
    call(w3, "anvil_impersonateAccount", GHOST)
    mined(w3, call(w3, "eth_sendTransaction", {"from": GHOST, "to": me, "value": hex(5 * 10**18)}))
    call(w3, "anvil_stopImpersonatingAccount", GHOST)
    # ordinary transactions on the edited state: a signed one at the edited nonce, spending the
    # impersonated transfer, and a call running the edited code on the edited storage
    send_signed(w3, COUNTER, 0, nonce=7, gas=60_000)
    mined(w3, call(w3, "eth_sendTransaction", {"from": DEV_ACCOUNT, "to": COUNTER, "gas": hex(60_000)}))
    call(w3, "evm_mine")
    # an hour later, by the chain's clock
    call(w3, "evm_increaseTime", 3600)
    send_signed(w3, DEV_ACCOUNT, 10**18, nonce=8)
    call(w3, "evm_mine")
    call(w3, "evm_mine")

    head = w3.eth.get_block("latest")
    assert head["timestamp"] > time.time() + 3000, "the chain's clock went an hour ahead"
    assert int(w3.eth.get_storage_at(COUNTER, 0).hex(), 16) == 43
    assert w3.eth.get_transaction_count(me) == 9
    for v in verifiers:
        status = verified_head(v, w3)
        assert status["verdict"] == "ok" and status["mismatches"] == [], status
        assert status["verifiedTxs"] == 4, "every transaction re-executed, the impersonated one too"
        assert v.proc.poll() is None, "the verifier keeps running"
        # the block hash commits to the state root the verifier recomputed after the edits
        for method, params in [
            ("eth_getBalance", (me,)),
            ("eth_getBalance", (GHOST,)),
            ("eth_getTransactionCount", (me,)),
            ("eth_getCode", (COUNTER,)),
            ("eth_getStorageAt", (COUNTER, "0x0")),
        ]:
            assert verifier_read(v, method, *params) == call(w3, method, *params, "latest"), method
    assert "VERDICT" not in verifiers[0].log() + verifiers[1].log()
