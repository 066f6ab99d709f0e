"""tests/support/openrpc.py accepts what the execution-apis spec allows and catches wrong shapes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.openrpc import DEFAULT_ROOT, OpenRpcSpec, load_spec

EMPTY_TRIE_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
EMPTY_OMMERS_HASH = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
EMPTY_REQUESTS_HASH = "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
BLOCK_HASH = "0x9f1c2e4b7a0d3c5e8f61a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3"
TX_HASH = "0x4e3a3754410177e6937ef1f84bba68ea139e8d1a2258c5f85db9f1cd715a1bdd"
SENDER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # EIP-55 checksummed: the spec allows mixed case
RECIPIENT = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"


@pytest.fixture(scope="module")
def spec() -> OpenRpcSpec:
    return load_spec()


def full_block() -> dict[str, Any]:
    """eth_getBlockByNumber(..., true) from a post-Prague node: one hydrated EIP-1559 transaction."""
    return {
        "number": "0x1b4",
        "hash": BLOCK_HASH,
        "parentHash": "0x2a7b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b",
        "sha3Uncles": EMPTY_OMMERS_HASH,
        "miner": "0x0000000000000000000000000000000000000000",
        "stateRoot": "0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544",
        "transactionsRoot": "0x0b9d2e1f7e8f1c7a3d5b6a4c2e0f8d6b4a2c0e8f6d4b2a0c8e6f4d2b0a8c6e4f",
        "receiptsRoot": "0x056b23fbba480696b65fe5a59b8f2148a1299103c4f57df839233af2cf4ca2d2",
        "logsBloom": "0x" + "00" * 256,
        "difficulty": "0x0",
        "gasLimit": "0x1c9c380",
        "gasUsed": "0x5208",
        "timestamp": "0x6745f3a1",
        "extraData": "0x",
        "mixHash": "0x6a1c5e2d9b3f7a4c8e0d2b6f1a5c9e3d7b1f5a9c3e7d1b5f9a3c7e1d5b9f3a7c",
        "nonce": "0x0000000000000000",
        "baseFeePerGas": "0x7",
        "withdrawalsRoot": EMPTY_TRIE_ROOT,
        "withdrawals": [],
        "blobGasUsed": "0x0",
        "excessBlobGas": "0x0",
        "parentBeaconBlockRoot": "0x" + "00" * 32,
        "requestsHash": EMPTY_REQUESTS_HASH,
        "size": "0x2d1",
        "uncles": [],
        "transactions": [
            {
                "blockHash": BLOCK_HASH,
                "blockNumber": "0x1b4",
                "blockTimestamp": "0x6745f3a1",
                "hash": TX_HASH,
                "transactionIndex": "0x0",
                "from": SENDER,
                "type": "0x2",
                "nonce": "0x2a",
                "to": RECIPIENT,
                "gas": "0x5208",
                "value": "0xde0b6b3a7640000",
                "input": "0x",
                "maxPriorityFeePerGas": "0x3b9aca00",
                "maxFeePerGas": "0x77359400",
                "gasPrice": "0x3b9aca07",
                "accessList": [],
                "chainId": "0x539",
                "yParity": "0x1",
                "v": "0x1",
                "r": "0x8d0a3c5b1e2f4a6c7d9e0b1a2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f",
                "s": "0x2f1e0d9c8b7a69584736251403f2e1d0c9b8a79685746352413021f0e1d2c3b4",
            }
        ],
    }


def receipt() -> dict[str, Any]:
    return {
        "type": "0x2",
        "transactionHash": TX_HASH,
        "transactionIndex": "0x0",
        "blockHash": BLOCK_HASH,
        "blockNumber": "0x1b4",
        "from": SENDER,
        "to": RECIPIENT,
        "cumulativeGasUsed": "0x5208",
        "gasUsed": "0x5208",
        "contractAddress": None,
        "logs": [
            {
                "removed": False,
                "logIndex": "0x0",
                "transactionIndex": "0x0",
                "transactionHash": TX_HASH,
                "blockHash": BLOCK_HASH,
                "blockNumber": "0x1b4",
                "blockTimestamp": "0x6745f3a1",
                "address": RECIPIENT,
                "data": "0x00000000000000000000000000000000000000000000000000000000000003e8",
                "topics": ["0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"],
            }
        ],
        "logsBloom": "0x" + "00" * 256,
        "status": "0x1",
        "effectiveGasPrice": "0x3b9aca07",
    }


def test_well_formed_full_block_conforms(spec: OpenRpcSpec) -> None:
    spec.validate_result("eth_getBlockByNumber", full_block())
    spec.validate_result("eth_getBlockByHash", full_block())
    hashes_only = full_block()
    hashes_only["transactions"] = [TX_HASH]
    spec.validate_result("eth_getBlockByNumber", hashes_only)


def test_decimal_block_number_is_rejected_naming_the_field(spec: OpenRpcSpec) -> None:
    block = full_block()
    block["number"] = 436
    with pytest.raises(AssertionError) as failure:
        spec.validate_result("eth_getBlockByNumber", block)
    message = str(failure.value)
    assert "eth_getBlockByNumber" in message
    assert "$.number" in message
    assert "436 is not of type 'string'" in message
    # the notFound (null) branch of the result's oneOf is not reported as a second problem
    assert "'null'" not in message


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda b: b.pop("mixHash"), "'mixHash' is a required property"),
        (lambda b: b.update(hash=b["hash"].upper().replace("0X", "0x")), "$.hash"),
        (
            lambda b: b["withdrawals"].append(
                {"index": "0x0", "validatorIndex": "0x1", "address": RECIPIENT, "amount": 5}
            ),
            "$.withdrawals[0].amount",
        ),
        (lambda b: b["transactions"][0].update(blockTimestamp=None), "$.transactions[0].blockTimestamp"),
        (lambda b: b["transactions"][0].update(type="0x02"), "$.transactions[0].type: '0x02' does not match"),
        (lambda b: b["transactions"][0].pop("gasPrice"), "'gasPrice' is a required property"),
        (lambda b: b["transactions"][0].update(r="0x00ab"), "$.transactions[0].r"),
    ],
    ids=[
        "missing-required",
        "uppercase-hash",
        "withdrawal-amount-int",
        "tx-null-timestamp",
        "tx-type-padded",
        "1559-without-gasPrice",
        "signature-leading-zero",
    ],
)
def test_other_wrong_block_shapes_are_caught(spec: OpenRpcSpec, mutate: Any, where: str) -> None:
    block = full_block()
    mutate(block)
    with pytest.raises(AssertionError, match="does not conform") as failure:
        spec.validate_result("eth_getBlockByNumber", block)
    assert where in str(failure.value)


def test_receipt_conforms_and_leading_zero_quantity_does_not(spec: OpenRpcSpec) -> None:
    spec.validate_result("eth_getTransactionReceipt", receipt())
    creation = receipt() | {"to": None, "contractAddress": RECIPIENT, "logs": []}
    spec.validate_result("eth_getTransactionReceipt", creation)

    padded = receipt() | {"gasUsed": "0x01"}
    with pytest.raises(AssertionError) as failure:
        spec.validate_result("eth_getTransactionReceipt", padded)
    assert "$.gasUsed" in str(failure.value)
    assert "'0x01' does not match" in str(failure.value)


def test_receipt_fields_outside_the_spec_are_rejected(spec: OpenRpcSpec) -> None:
    """ReceiptInfo and Log are `additionalProperties: false` (Block is not)."""
    with pytest.raises(AssertionError, match="'l1Fee' was unexpected"):
        spec.validate_result("eth_getTransactionReceipt", receipt() | {"l1Fee": "0x1"})
    spec.validate_result("eth_getBlockByNumber", full_block() | {"l1BlockNumber": "0x1"})


def test_chain_id_quantity(spec: OpenRpcSpec) -> None:
    spec.validate_result("eth_chainId", "0x539")
    for wrong in ("1337", 1337, "0x0539", "0x539\n", "0X539"):
        with pytest.raises(AssertionError, match="eth_chainId"):
            spec.validate_result("eth_chainId", wrong)


def test_not_found_results_are_null(spec: OpenRpcSpec) -> None:
    spec.validate_result("eth_getTransactionReceipt", None)
    spec.validate_result("eth_getBlockByNumber", None)
    spec.validate_result("eth_getTransactionByHash", None)
    with pytest.raises(AssertionError):
        spec.validate_result("eth_getTransactionReceipt", {})


def test_empty_log_list_passes_despite_overlapping_one_of(spec: OpenRpcSpec) -> None:
    spec.validate_result("eth_getLogs", [])
    spec.validate_result("eth_getLogs", receipt()["logs"])
    with pytest.raises(AssertionError):  # the literal oneOf: [] is both "hashes" and "logs"
        spec.validate_result("eth_getLogs", [], strict_one_of=True)
    with pytest.raises(AssertionError, match=r"\$\[0\]"):
        spec.validate_result("eth_getLogs", [{"address": RECIPIENT}])


def test_unknown_method_is_a_key_error(spec: OpenRpcSpec) -> None:
    with pytest.raises(KeyError, match=r"eth_getBlockByNumbr.*did you mean eth_getBlockByNumber"):
        spec.validate_result("eth_getBlockByNumbr", None)
    with pytest.raises(KeyError, match="not a method"):
        spec.result_schema("web3_clientVersion")


def test_spec_is_loaded_once_and_describes_its_methods(spec: OpenRpcSpec) -> None:
    assert load_spec() is spec
    assert load_spec(DEFAULT_ROOT) is spec
    methods = spec.methods()
    assert methods == sorted(methods)
    for name in (
        "eth_chainId",
        "eth_blockNumber",
        "eth_getBlockByNumber",
        "eth_getLogs",
        "eth_getTransactionReceipt",
        "eth_sendRawTransaction",
        "eth_call",
    ):
        assert name in methods
    schema = spec.result_schema("eth_getBlockByNumber")
    assert schema == {
        "oneOf": [{"$ref": "#/components/schemas/notFound"}, {"$ref": "#/components/schemas/Block"}]
    }
    pristine = copy.deepcopy(schema)
    schema["oneOf"].clear()
    assert spec.result_schema("eth_getBlockByNumber") == pristine
