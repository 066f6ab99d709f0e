"""The ``debug`` namespace's traces against the real daemon (devnet: on the public port), with
web3.py's geth ``debug`` module where it has the method.

Specified: ``debug_traceTransaction`` with geth's struct logger (``gas``, ``failed``,
``returnValue``, ``structLogs``) and its options (``disableStack``, ``disableStorage``,
``enableMemory``, ``enableReturnData``); ``callTracer`` with ``onlyTopCall`` and ``withLog``;
``prestateTracer`` with ``diffMode``; ``debug_traceCall`` (with state overrides) on the latest and
the pending state; ``debug_traceBlockByNumber`` and ``debug_traceBlockByHash`` answer one
``{txHash, result}`` per transaction in order; a transaction of the open EVM block is traced before
its block is sealed; the limits apply (a trace past its ``timeout``, or the call deadline, answers
an error naming it; ``debug_traceCall``'s gas is capped at ``rpc.gas_cap``; a trace larger than
``rpc.max_response_bytes`` is refused with -32005, naming the limit); bad options answer
-32602. The EVM block interval is long (60 s): blocks are sealed with ``evm_mine``, so the open
block stays open for as long as a test needs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.contracts import load_artifact
from tests.support.daemon import Daemon, rpc_config, start_daemon
from tests.support.rpc import request

CHAIN_ID = 1337
GWEI = 10**9
GAS_CAP = 1_000_000
MAX_RESPONSE_BYTES = 256 * 1024  # rpc.max_response_bytes: far above every trace here but the loop's
LOOP_FOREVER = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP: runs until its gas is gone
LOOP_ADDRESS = "0x00000000000000000000000000000000000c0de1"
# MSTORE 42 at 0, STATICCALL the identity precompile (0x04) with those 32 bytes, STOP: the steps
# after the call have 32 bytes of return data
ECHO = "0x602a60005260206000602060006004" + "5afa00"
ECHO_ADDRESS = "0x00000000000000000000000000000000000c0de2"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    base = tmp_path_factory.mktemp("tracing")
    config = rpc_config(base / "devnet.toml", gas_cap=GAS_CAP, max_response_bytes=MAX_RESPONSE_BYTES)
    d = start_daemon(base / "data", "--evm-block-ms", "60000", config=config)
    try:
        yield d
        assert d.stop() == 0, d.log()
    finally:
        d.kill()


@pytest.fixture(scope="module")
def w3(node: Daemon) -> Web3:
    return Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))


class Sender:
    """One dev key sending raw transactions with explicit nonces."""

    def __init__(self, w3: Web3, key: str) -> None:
        self.w3, self.account = w3, Account.from_key(key)
        self.nonce: int = w3.eth.get_transaction_count(self.account.address, "pending")

    def send(self, data: bytes = b"", to: str | None = None, value: int = 0, gas: int = 2_000_000) -> str:
        tx: dict[str, Any] = {
            "chainId": CHAIN_ID,
            "nonce": self.nonce,
            "gas": gas,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": GWEI,
            "value": value,
            "data": data,
        }
        if to is not None:
            tx["to"] = Web3.to_checksum_address(to)
        self.nonce += 1
        tx_hash = self.w3.eth.send_raw_transaction(self.account.sign_transaction(tx).raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20)
        return HexBytes(receipt["transactionHash"]).to_0x_hex()

    def deploy(self, name: str, args: bytes = b"") -> str:
        tx_hash = self.send(bytes.fromhex(load_artifact(name)["bytecode"].removeprefix("0x")) + args)
        address = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))["contractAddress"]
        assert address is not None
        return str(address).lower()


@pytest.fixture(scope="module")
def sender(w3: Web3) -> Sender:
    return Sender(w3, DEV_KEYS[7])


@pytest.fixture(scope="module")
def storage(sender: Sender) -> str:
    return sender.deploy("SimpleStorage")


@pytest.fixture(scope="module")
def factory(sender: Sender) -> str:
    return sender.deploy("Factory")


def selector(signature: str) -> bytes:
    return bytes(Web3.keccak(text=signature)[:4])


def trace(w3: Web3, method: str, *params: Any) -> Any:
    answer = request(w3, method, list(params))
    assert "result" in answer, answer
    return answer["result"]


def error_of(w3: Web3, method: str, *params: Any) -> dict[str, Any]:
    answer = request(w3, method, list(params))
    assert "error" in answer, answer
    error: dict[str, Any] = answer["error"]
    return error


def mine(w3: Web3) -> int:
    trace(w3, "evm_mine")
    return w3.eth.block_number


def test_the_struct_logger_answers_geths_shape_with_stack_and_storage(
    w3: Web3, sender: Sender, storage: str
) -> None:
    tx_hash = sender.send(selector("set(uint256)") + encode(["uint256"], [42]), to=storage)
    result: Any = w3.geth.debug.trace_transaction(tx_hash)
    receipt = w3.eth.get_transaction_receipt(HexBytes(tx_hash))
    assert result["failed"] is False and result["gas"] == receipt["gasUsed"]
    logs = result["structLogs"]
    assert logs[0]["pc"] == 0 and logs[0]["depth"] == 1 and "stack" in logs[0]
    sstore = next(step for step in logs if step["op"] == "SSTORE")
    assert sstore["storage"] == {"00" * 32: f"{42:064x}"}, "geth's words: no 0x prefix"
    assert all("memory" not in step for step in logs), "memory is off unless enableMemory"


def test_struct_logger_options_turn_stack_storage_memory_and_return_data_on_and_off(
    w3: Web3, sender: Sender, storage: str
) -> None:
    tx_hash = sender.send(selector("set(uint256)") + encode(["uint256"], [7]), to=storage)
    bare = trace(w3, "debug_traceTransaction", tx_hash, {"disableStack": True, "disableStorage": True})
    assert all("stack" not in step and "storage" not in step for step in bare["structLogs"])
    rich = trace(w3, "debug_traceTransaction", tx_hash, {"enableMemory": True})
    memory = [word for step in rich["structLogs"] for word in step.get("memory", [])]
    assert memory and all(len(word) == 64 and int(word, 16) >= 0 for word in memory), "geth's words"

    echo = {"to": ECHO_ADDRESS}
    overrides = {ECHO_ADDRESS: {"code": ECHO}}
    with_return = trace(
        w3, "debug_traceCall", echo, "latest", {"enableReturnData": True, "stateOverrides": overrides}
    )
    after_call = with_return["structLogs"][-1]
    assert after_call["op"] == "STOP" and after_call["returnData"] == "0x" + f"{42:064x}"
    without = trace(w3, "debug_traceCall", echo, "latest", {"stateOverrides": overrides})
    assert all("returnData" not in step for step in without["structLogs"])


def test_call_tracer_only_top_call_and_with_log(w3: Web3, sender: Sender, factory: str) -> None:
    tx_hash = sender.send(selector("deployPlain()"), to=factory)
    full = trace(
        w3, "debug_traceTransaction", tx_hash, {"tracer": "callTracer", "tracerConfig": {"withLog": True}}
    )
    assert full["type"] == "CALL" and full["to"] == factory
    assert [c["type"] for c in full["calls"]] == ["CREATE"]
    (log,) = full["logs"]
    assert log["address"] == factory and log["topics"][0] == Web3.keccak(text="Deployed(address)").to_0x_hex()
    top = trace(
        w3, "debug_traceTransaction", tx_hash, {"tracer": "callTracer", "tracerConfig": {"onlyTopCall": True}}
    )
    assert "calls" not in top and "logs" not in top
    assert top["gasUsed"] == full["gasUsed"] and top["output"] == full["output"]


def test_prestate_tracer_and_its_diff_mode(w3: Web3, sender: Sender, storage: str) -> None:
    tx_hash = sender.send(selector("set(uint256)") + encode(["uint256"], [99]), to=storage)
    pre = trace(w3, "debug_traceTransaction", tx_hash, {"tracer": "prestateTracer"})
    me = sender.account.address.lower()
    assert pre[me]["nonce"] == sender.nonce - 1
    assert pre[storage]["storage"]["0x" + "00" * 32] == "0x" + f"{7:064x}"
    diff = trace(
        w3,
        "debug_traceTransaction",
        tx_hash,
        {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}},
    )
    assert diff["post"][storage]["storage"] == {"0x" + "00" * 32: "0x" + f"{99:064x}"}
    assert diff["pre"][storage]["storage"] == {"0x" + "00" * 32: "0x" + f"{7:064x}"}
    assert diff["post"][me]["nonce"] == sender.nonce


def test_a_transaction_of_the_open_block_is_traced_before_its_block_is_sealed(
    w3: Web3, sender: Sender, storage: str
) -> None:
    sealed = w3.eth.block_number
    tx_hash = sender.send(selector("set(uint256)") + encode(["uint256"], [5]), to=storage)
    receipt = w3.eth.get_transaction_receipt(HexBytes(tx_hash))
    assert receipt["blockNumber"] > sealed and w3.eth.block_number == sealed, "the block must still be open"
    result = trace(w3, "debug_traceTransaction", tx_hash, {"tracer": "callTracer"})
    assert result["to"] == storage and int(result["gasUsed"], 16) == receipt["gasUsed"]


def test_trace_block_by_number_and_by_hash_answer_every_transaction_in_order(
    w3: Web3, sender: Sender, storage: str
) -> None:
    mine(w3)  # a fresh block: the next two transactions are its only ones
    hashes = [sender.send(selector("set(uint256)") + encode(["uint256"], [n]), to=storage) for n in (11, 12)]
    number = mine(w3)
    block = w3.eth.get_block(number)
    assert [HexBytes(h).to_0x_hex() for h in block["transactions"] if isinstance(h, bytes)] == hashes
    config = {"tracer": "callTracer"}
    by_number = trace(w3, "debug_traceBlockByNumber", hex(number), config)
    by_hash = trace(w3, "debug_traceBlockByHash", HexBytes(block["hash"]).to_0x_hex(), config)
    assert [t["txHash"] for t in by_number] == hashes
    assert by_number == by_hash
    assert [t["result"]["input"][-2:] for t in by_number] == ["0b", "0c"]
    struct = trace(w3, "debug_traceBlockByNumber", hex(number))
    assert len(struct) == 2 and all("structLogs" in t["result"] for t in struct)


def test_trace_call_on_latest_and_pending_with_state_overrides(w3: Web3, storage: str) -> None:
    call = {"to": storage, "data": "0x" + (selector("set(uint256)") + encode(["uint256"], [3])).hex()}
    for tag in ("latest", "pending"):
        result = trace(
            w3, "debug_traceCall", call, tag, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}
        )
        assert result["post"][storage]["storage"] == {"0x" + "00" * 32: "0x" + f"{3:064x}"}
    nobody = "0x00000000000000000000000000000000000b0b00"
    overridden = trace(
        w3,
        "debug_traceCall",
        {"from": nobody, "to": nobody, "value": hex(10**18)},
        "latest",
        {"tracer": "callTracer", "stateOverrides": {nobody: {"balance": hex(2 * 10**18)}}},
    )
    assert overridden["value"] == hex(10**18) and "error" not in overridden


def test_trace_call_gas_is_capped_at_the_rpc_gas_cap(w3: Web3) -> None:
    result = trace(
        w3,
        "debug_traceCall",
        {"to": LOOP_ADDRESS, "gas": hex(10**9)},
        "latest",
        {"tracer": "callTracer", "stateOverrides": {LOOP_ADDRESS: {"code": LOOP_FOREVER}}, "timeout": "60s"},
    )
    assert int(result["gas"], 16) == GAS_CAP
    assert result["error"] == "out of gas" and int(result["gasUsed"], 16) == GAS_CAP


def test_a_trace_past_its_timeout_answers_an_error_naming_it(w3: Web3) -> None:
    error = error_of(
        w3,
        "debug_traceCall",
        {"to": LOOP_ADDRESS, "gas": hex(GAS_CAP)},
        "latest",
        {"stateOverrides": {LOOP_ADDRESS: {"code": LOOP_FOREVER}}, "timeout": "1ms"},
    )
    assert "timeout" in error["message"] or "timed out" in error["message"], error


def test_a_trace_larger_than_the_response_limit_is_refused_with_limit_exceeded(w3: Web3) -> None:
    # the loop's struct log (a step per opcode until 1M gas is gone) is megabytes: it is cut off
    # as it grows past rpc.max_response_bytes, and the node goes on answering
    error = error_of(
        w3,
        "debug_traceCall",
        {"to": LOOP_ADDRESS, "gas": hex(GAS_CAP)},
        "latest",
        {"stateOverrides": {LOOP_ADDRESS: {"code": LOOP_FOREVER}}, "timeout": "60s"},
    )
    assert error["code"] == -32005, error
    assert "rpc.max_response_bytes" in error["message"], error
    assert f"larger than {MAX_RESPONSE_BYTES} bytes" in error["message"], (
        "the configured limit, not the default"
    )
    assert w3.eth.block_number >= 0


def test_bad_trace_options_answer_invalid_params(w3: Web3, storage: str) -> None:
    call = {"to": storage}
    cases = [
        {"tracer": "4byteTracer"},
        {"tracer": "callTracer", "tracerConfig": {"diffMode": True}},
        {"timeout": "soon"},
        {"disableStack": "yes"},
    ]
    for config in cases:
        error = error_of(w3, "debug_traceCall", call, "latest", config)
        assert error["code"] == -32602, (config, error)
    assert error_of(w3, "debug_traceTransaction", "0x" + "ab" * 32)["code"] in (-32000, -32602)
