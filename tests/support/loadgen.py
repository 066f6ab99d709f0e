"""A load generator shared by the crash tests and the soak script: several senders sending
transfers until stopped, recording exactly what the node acknowledged."""

from __future__ import annotations

import threading
import time
from typing import Any

from eth_account import Account
from web3 import Web3

from tests.support.rpc import batch, request

CHAIN_ID = 1337
GWEI = 10**9
RECEIPT_FIELDS = (
    "transactionHash",
    "transactionIndex",
    "blockNumber",
    "from",
    "to",
    "cumulativeGasUsed",
    "gasUsed",
    "contractAddress",
    "logs",
    "logsBloom",
    "status",
    "effectiveGasPrice",
    "type",
)


def raw_transfer(key: str, nonce: int, value: int = 1) -> str:
    acct = Account.from_key(key)
    tx = {
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "to": acct.address,
        "value": value,
        "gas": 21_000,
        "maxFeePerGas": 10 * GWEI,
        "maxPriorityFeePerGas": 0,
        "type": 2,
    }
    return "0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()


def comparable(receipt: dict[str, Any]) -> dict[str, Any]:
    """Receipt fields that are final when the receipt is served (blockHash may still be zero)."""
    out = {k: receipt[k] for k in RECEIPT_FIELDS}
    out["logs"] = [{k: v for k, v in log.items() if k != "blockHash"} for log in receipt["logs"]]
    return out


class Load:
    """Several senders sending transfers until stopped; records what the node acknowledged."""

    def __init__(self, url: str, keys: list[str]) -> None:
        self.url = url
        self.keys = keys
        self.receipts: dict[str, dict[str, Any]] = {}  # send-and-wait answers
        self.acked: set[str] = set()  # eth_sendRawTransaction answers
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(k, i % 2 == 0), daemon=True) for i, k in enumerate(keys)
        ]

    def _run(self, key: str, sync: bool) -> None:
        w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 5}))
        try:
            nonce = int(w3.eth.get_transaction_count(Account.from_key(key).address, "pending"))
        except Exception:
            return
        while not self._stop.is_set():
            raw = raw_transfer(key, nonce)
            try:
                if sync:
                    response = request(w3, "eth_sendRawTransactionSync", [raw])
                    if "result" in response:
                        self.receipts[response["result"]["transactionHash"]] = response["result"]
                else:
                    response = request(w3, "eth_sendRawTransaction", [raw])
                    if "result" in response:
                        self.acked.add(response["result"])
            except Exception:
                return  # the node died
            if "result" in response:
                nonce += 1

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)


def wait_for_receipts(w3: Web3, hashes: set[str], timeout: float = 15.0) -> dict[str, Any]:
    """Poll (in JSON-RPC batches) until every hash has a receipt; fails naming how many are lost."""
    found: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(hashes):
        missing = sorted(hashes - set(found))
        for i in range(0, len(missing), 500):
            chunk = missing[i : i + 500]
            answers = batch(w3, [("eth_getTransactionReceipt", [h]) for h in chunk])
            for h, answer in zip(chunk, answers, strict=True):
                if answer.get("result") is not None:
                    found[h] = answer["result"]
        if len(found) < len(hashes):
            assert time.monotonic() < deadline, f"{len(hashes) - len(found)} acknowledged transactions lost"
            time.sleep(0.05)
    return found
