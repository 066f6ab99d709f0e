"""Withdrawal commands: ``sequencer bridge withdraw``, ``prove``, ``finalize`` and the withdrawal
half of ``bridge status`` (docs/bridge.md, "Withdrawals").

A withdrawal goes through four steps, each a command: ``withdraw`` sends it on L2 (the
L2ToL1MessagePasser's ``initiateWithdrawal``); once the proposer has posted an output root for
an L2 block at or after it, ``prove`` proves it on the L1 portal (the output root's preimage and
the Merkle-Patricia proof of its ``sentMessages`` slot, both read from the sequencer:
``optimism_outputAtBlock``, ``bridge_getWithdrawalProof``); once the challenge period has passed
since the proof, ``finalize`` has the portal pay it out. ``status`` says where it stands. Every
refusal is one ``error:`` line (the portal's custom error in words) and exit code 1; a bad
argument exits 2. Keys: ``--key``, else ``SEQUENCER_BRIDGE_KEY``, else on a development chain the
first standard development account.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

import click

from sequencer.bridge.withdrawals import (
    MESSAGE_PASSED_TOPIC,
    MESSAGE_PASSER,
    MalformedWithdrawal,
    WithdrawalTx,
    decode_message_passed,
    message_passer_abi,
    sent_message_slot,
)
from sequencer.cli.render import Row, emit
from sequencer.errors import ConfigError
from sequencer.settlement.contracts import L2_OUTPUT_ORACLE, OPTIMISM_PORTAL, abi
from sequencer.settlement.keys import DEV_KEYS, DEV_L1_CHAIN_IDS
from sequencer.settlement.settings import Settlement, load_settlement, parse_key

BRIDGE_KEY_ENVVAR = "SEQUENCER_BRIDGE_KEY"
DEFAULT_RPC = "http://127.0.0.1:8545"
DEFAULT_WITHDRAWAL_GAS = 100_000
RECEIPT_TIMEOUT_S = 60.0
WEI_PER_ETH = 10**18

_PORTAL_ERRORS = {
    "OutputNotProposed": "the oracle holds no output at that index",
    "UnknownOutputVersion": "unknown output root version",
    "InvalidOutputRootProof": "the output root proof does not match the output root on L1 "
    "(the sequencer's output differs from the posted one)",
    "InvalidWithdrawalProof": "the proof does not show the withdrawal in the message passer's storage",
    "BadNodeHash": "the Merkle-Patricia proof does not match the output's storage root",
    "ProofTooShort": "the Merkle-Patricia proof is cut short",
    "ProofTooLong": "the Merkle-Patricia proof has extra nodes",
    "InvalidNode": "the Merkle-Patricia proof holds a malformed node",
    "InvalidRLP": "the Merkle-Patricia proof holds malformed RLP",
    "AlreadyProven": "the withdrawal is already proven",
    "NotProven": "the withdrawal is not proven yet: run `sequencer bridge prove` first",
    "AlreadyFinalized": "the withdrawal is already finalized",
    "OutputRootChanged": "the output it was proven against was deleted: prove it again",
    "TooEarly": "too early",
    "InsufficientGas": "not enough gas to give the target its gas limit",
    "NonReentrant": "a withdrawal cannot finalize another",
    "BadTarget": "a withdrawal cannot target the portal",
}


class BridgeError(Exception):
    """A bridge command cannot go on (the message is one line, for the user)."""


@dataclass(frozen=True, slots=True)
class Initiated:
    """A withdrawal found on L2: the transaction that sent it, its block and the withdrawal."""

    tx_hash: bytes
    l2_block: int
    withdrawal: WithdrawalTx


@dataclass(frozen=True, slots=True)
class OutputAt:
    """An output on L1: its index, its root, its L2 block and when it was proposed."""

    index: int
    root: bytes
    l2_block: int
    timestamp: int


# -- plumbing ---------------------------------------------------------------------------------------
def _web3(url: str) -> Any:
    from web3 import Web3

    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def parse_tx_hash(value: str) -> bytes:
    """A ``0x``-prefixed 32-byte transaction hash (a bad one is a usage error, exit 2)."""
    text = value.strip().lower()
    if not (text.startswith("0x") and len(text) == 66):
        raise click.BadParameter(f"expected a 0x-prefixed 32-byte transaction hash, got {value!r}")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise click.BadParameter(f"expected a 0x-prefixed 32-byte transaction hash, got {value!r}") from None


def _address(value: str, flag: str) -> str:
    from web3 import Web3

    text = value.strip()
    if not (text.startswith("0x") and len(text) == 42):
        raise click.BadParameter(f"expected a 0x-prefixed 20-byte address, got {value!r}", param_hint=flag)
    try:
        return str(Web3.to_checksum_address(text))
    except ValueError:
        raise click.BadParameter(
            f"expected a 0x-prefixed 20-byte address, got {value!r}", param_hint=flag
        ) from None


def parse_amount(value: str, *, allow_zero: bool = False) -> int:
    """An amount of ETH (``0.5``, ``1e-3``) in wei; at most 18 decimals, more than 0 (or 0 too
    with ``allow_zero``: a deposit may carry only a call)."""
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise click.BadParameter(f"expected an amount of ETH such as 0.5, got {value!r}") from None
    wei = amount * WEI_PER_ETH
    smallest = 0 if allow_zero else 1
    if not amount.is_finite() or wei != wei.to_integral_value() or wei < smallest or wei >= 2**256:
        sign = "non-negative" if allow_zero else "positive"
        raise click.BadParameter(f"expected a {sign} amount of ETH with at most 18 decimals, got {value!r}")
    return int(wei)


def resolve_bridge_key(key: str | None, chain_id: int, chain: str) -> str:
    """``--key``, else ``SEQUENCER_BRIDGE_KEY``, else on a development chain dev account #0."""
    given = key if key is not None else os.environ.get(BRIDGE_KEY_ENVVAR)
    if given is not None:
        return parse_key(given, "--key")
    if chain_id in DEV_L1_CHAIN_IDS:
        return DEV_KEYS[0]
    raise ConfigError(
        f"no key: pass --key or set {BRIDGE_KEY_ENVVAR} ({chain} chain {chain_id} is not a dev chain)"
    )


def _eth(wei: int) -> str:
    return f"{Decimal(wei) / WEI_PER_ETH:f} ETH"


def _when(stamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))


def portal_error(exc: Exception, portal_abi: list[dict[str, Any]]) -> str | None:
    """The portal's custom error in ``exc`` (a web3 revert), in words; ``None`` if it is not one."""
    from eth_abi.abi import decode as abi_decode
    from eth_hash.auto import keccak

    data = getattr(exc, "data", None)
    if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
        return None
    for entry in portal_abi:
        if entry.get("type") != "error":
            continue
        types = [i["type"] for i in entry["inputs"]]
        selector = "0x" + keccak(f"{entry['name']}({','.join(types)})".encode())[:4].hex()
        if data[:10] != selector:
            continue
        words = _PORTAL_ERRORS.get(entry["name"], entry["name"])
        if entry["name"] == "TooEarly":
            (ready_at,) = abi_decode(types, bytes.fromhex(data[10:]))
            wait = max(0, int(ready_at) - int(time.time()))
            return f"too early: finalizable at {_when(int(ready_at))} (in about {wait} s)"
        return f"{words} ({entry['name']})"
    return None


class Bridge:
    """The L2 (a sequencer's JSON-RPC) and, with a settlement file, the L1 contracts."""

    def __init__(self, l2_rpc: str, settlement: Settlement | None = None) -> None:
        """``settlement``: the chain's settlement file (needed for anything on L1)."""
        from web3 import Web3

        self.l2_rpc = l2_rpc
        self.l2 = _web3(l2_rpc)
        self.settlement = settlement
        self.l1: Any = None
        self.portal: Any = None
        self.oracle: Any = None
        if settlement is not None:
            if settlement.contracts.portal is None:
                raise BridgeError(
                    "the settlement file names no portal (contracts.portal): this chain has no bridge"
                )
            self.l1 = _web3(settlement.l1.rpc)
            self.portal = self.l1.eth.contract(
                address=Web3.to_checksum_address(settlement.contracts.portal), abi=abi(OPTIMISM_PORTAL)
            )
            self.oracle = self.l1.eth.contract(
                address=Web3.to_checksum_address(settlement.contracts.l2_output_oracle),
                abi=abi(L2_OUTPUT_ORACLE),
            )

    def l2_call(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC call to the sequencer; a :class:`BridgeError` on failure."""
        from sequencer.cli.rpc_client import RpcCallError, call

        try:
            return call(self.l2_rpc, method, params)
        except RpcCallError as exc:
            raise BridgeError(str(exc)) from None

    def find(self, tx_hash: bytes) -> Initiated:
        """The withdrawal the L2 transaction ``tx_hash`` sent."""
        receipt = self.l2_call("eth_getTransactionReceipt", ["0x" + tx_hash.hex()])
        if receipt is None:
            raise BridgeError(f"no L2 transaction 0x{tx_hash.hex()} on {self.l2_rpc}")
        if int(receipt["status"], 16) != 1:
            raise BridgeError(f"L2 transaction 0x{tx_hash.hex()} failed: it sent no withdrawal")
        if receipt.get("blockHash") == "0x" + "ff" * 32:
            raise BridgeError(
                f"L2 transaction 0x{tx_hash.hex()} is in the open block: wait for it to be sealed"
            )
        passer = "0x" + MESSAGE_PASSER.hex()
        for log in receipt["logs"]:
            topics = [bytes.fromhex(t[2:]) for t in log["topics"]]
            if log["address"].lower() == passer and topics and topics[0] == MESSAGE_PASSED_TOPIC:
                try:
                    withdrawal = decode_message_passed(topics, bytes.fromhex(log["data"][2:]))
                except MalformedWithdrawal as exc:
                    raise BridgeError(f"L2 transaction 0x{tx_hash.hex()}: {exc}") from None
                return Initiated(tx_hash, int(receipt["blockNumber"], 16), withdrawal)
        raise BridgeError(f"L2 transaction 0x{tx_hash.hex()} is not a withdrawal (no MessagePassed event)")

    def covering_output(self, l2_block: int) -> OutputAt | None:
        """The first output on L1 at or after ``l2_block`` (the one a proof uses), or ``None``."""
        o = self.oracle.functions
        if o.nextOutputIndex().call() == 0 or o.latestBlockNumber().call() < l2_block:
            return None
        index = int(o.getL2OutputIndexAfter(l2_block).call())
        root, stamp, number = o.getL2Output(index).call()
        return OutputAt(index, bytes(root), int(number), int(stamp))

    def proof_stands(self, root: bytes, proven_at: int, index: int) -> bool:
        """Whether a proof still counts: the oracle holds the same proposal it was made against."""
        o = self.oracle.functions
        if index >= int(o.nextOutputIndex().call()):
            return False
        output_root, stamp, _number = o.getL2Output(index).call()
        return bytes(output_root) == root and int(stamp) <= proven_at

    def prove_arguments(self, found: Initiated, output: OutputAt) -> tuple[Any, ...]:
        """``proveWithdrawalTransaction``'s arguments, from the sequencer's output and proof."""
        number = hex(output.l2_block)
        at = self.l2_call("optimism_outputAtBlock", [number])
        if bytes.fromhex(at["outputRoot"][2:]) != output.root:
            raise BridgeError(
                f"the output root on L1 for L2 block {output.l2_block} ({'0x' + output.root.hex()}) is not "
                f"the sequencer's ({at['outputRoot']}): the sequencer at {self.l2_rpc} is on another chain"
            )
        slot = "0x" + sent_message_slot(found.withdrawal.hash).to_bytes(32, "big").hex()
        proof = self.l2_call("bridge_getWithdrawalProof", [[slot], number])
        root_proof = (
            b"\x00" * 32,
            bytes.fromhex(at["stateRoot"][2:]),
            bytes.fromhex(at["withdrawalStorageRoot"][2:]),
            bytes.fromhex(at["blockRef"]["hash"][2:]),
        )
        nodes = [bytes.fromhex(n[2:]) for n in proof["storageProof"][0]["proof"]]
        return (found.withdrawal.as_tuple(), output.index, root_proof, nodes)

    def status(self, found: Initiated) -> dict[str, Any]:
        """Where the withdrawal stands on L1 (``state``: initiated (its L2 block is not on L1 yet),
        waiting-for-output (it is: the proposer posts an output soon), provable, proven,
        finalizable, finalized) with what is known of each step."""
        w = found.withdrawal
        out: dict[str, Any] = {
            "kind": "withdrawal",
            "l2TxHash": "0x" + found.tx_hash.hex(),
            "l2Block": found.l2_block,
            "withdrawalHash": "0x" + w.hash.hex(),
            "nonce": hex(w.nonce),
            "sender": w.as_tuple()[1],
            "target": w.as_tuple()[2],
            "value": str(w.value),
            "gasLimit": w.gas_limit,
        }
        p = self.portal.functions
        if p.finalizedWithdrawals(w.hash).call():
            out["state"] = "finalized"
            return out
        proven_root, proven_at, proven_index = p.provenWithdrawals(w.hash).call()
        if int(proven_at) != 0 and not self.proof_stands(
            bytes(proven_root), int(proven_at), int(proven_index)
        ):
            out["provenAgainstDeletedOutput"] = int(proven_index)  # the portal wants a new proof
        elif int(proven_at) != 0:
            ready_at = int(p.finalizableAt(w.hash).call())
            now = int(self.l1.eth.get_block("latest")["timestamp"])
            out.update(
                state="finalizable" if now >= ready_at else "proven",
                provenAt=int(proven_at),
                l2OutputIndex=int(proven_index),
                outputRoot="0x" + bytes(proven_root).hex(),
                finalizableAt=ready_at,
            )
            return out
        output = self.covering_output(found.l2_block)
        if output is None:
            safe = self.l2_call("eth_getBlockByNumber", ["safe", False])
            safe_number = int(safe["number"], 16) if safe is not None else 0
            out["state"] = "waiting-for-output" if safe_number >= found.l2_block else "initiated"
            out["safeBlock"] = safe_number
            out["latestOutputBlock"] = int(self.oracle.functions.latestBlockNumber().call())
            return out
        out.update(state="provable", l2OutputIndex=output.index, outputBlock=output.l2_block)
        return out

    def send_l1(self, key: str, call: Any) -> Any:
        """Send ``call`` to the portal from ``key``'s account and wait for it; the receipt.

        A revert is refused before sending (the estimate), named by the portal's error."""
        from eth_account import Account
        from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted

        account = Account.from_key(key)
        try:
            tx = call.build_transaction(
                {
                    "from": account.address,
                    "nonce": self.l1.eth.get_transaction_count(account.address, "pending"),
                    "chainId": int(self.l1.eth.chain_id),
                }
            )
        except (ContractCustomError, ContractLogicError) as exc:
            raise BridgeError(portal_error(exc, self.portal.abi) or f"the portal refused: {exc}") from None
        signed = account.sign_transaction(tx)
        tx_hash = self.l1.eth.send_raw_transaction(signed.raw_transaction)
        try:
            receipt = self.l1.eth.wait_for_transaction_receipt(
                tx_hash, timeout=RECEIPT_TIMEOUT_S, poll_latency=0.2
            )
        except TimeExhausted:
            raise BridgeError(
                f"L1 transaction 0x{bytes(tx_hash).hex()} not included in {RECEIPT_TIMEOUT_S:g} s"
            ) from None
        if receipt["status"] != 1:
            raise BridgeError(f"L1 transaction 0x{bytes(tx_hash).hex()} reverted")
        return receipt


def _status_rows(st: dict[str, Any]) -> list[Row]:
    rows: list[Row] = [
        ("state", st["state"]),
        ("L2 transaction", f"{st['l2TxHash']} (block {st['l2Block']})"),
        ("withdrawal hash", st["withdrawalHash"]),
        ("from (L2) -> to (L1)", f"{st['sender']} -> {st['target']}"),
        ("value", _eth(int(st["value"]))),
    ]
    if "provenAgainstDeletedOutput" in st:
        rows.append(
            (
                "note",
                f"proven against output {st['provenAgainstDeletedOutput']}, deleted since: prove it again",
            )
        )
    if st["state"] == "initiated":
        rows.append(("L2 safe block", f"{st['safeBlock']}: the withdrawal's block is not on L1 yet"))
    if st["state"] in ("initiated", "waiting-for-output"):
        rows.append(
            ("newest output", f"L2 block {st['latestOutputBlock']}: no output covers the withdrawal yet")
        )
    if st["state"] == "provable":
        rows.append(("output", f"index {st['l2OutputIndex']} (L2 block {st['outputBlock']})"))
    if st["state"] in ("proven", "finalizable"):
        rows.append(("proven", f"{_when(st['provenAt'])} against output {st['l2OutputIndex']}"))
        rows.append(("finalizable at", _when(st["finalizableAt"])))
    return rows


def withdrawal_status(l2_rpc: str, l1_path: Path, tx_hash: bytes) -> dict[str, Any] | None:
    """The withdrawal half of ``bridge status``: where the withdrawal sent by L2 transaction
    ``tx_hash`` stands, or ``None`` when that is not an L2 transaction that sent one."""
    bridge = Bridge(l2_rpc, load_settlement(l1_path))
    try:
        found = bridge.find(tx_hash)
    except BridgeError:
        return None
    return bridge.status(found)


def print_withdrawal_status(st: dict[str, Any], as_json: bool) -> None:
    """Print :func:`withdrawal_status`'s answer (a table, or JSON)."""
    emit(as_json, st, "withdrawal", _status_rows(st))


# -- commands ---------------------------------------------------------------------------------------
rpc_option = click.option(
    "--rpc", default=DEFAULT_RPC, show_default=True, help="The sequencer's JSON-RPC URL (L2)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
key_option = click.option(
    "--key",
    default=None,
    help=f"The private key that signs (or set {BRIDGE_KEY_ENVVAR}) [default on a dev chain: dev account #0].",
)
l1_option = click.option(
    "--l1",
    "l1_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The chain's settlement file (written by `sequencer l1 deploy`).",
)


@click.command("withdraw")
@rpc_option
@click.option("--amount", required=True, help="ETH to withdraw to L1, e.g. 0.5.")
@click.option("--to", "to", default=None, help="The L1 recipient [default: the sender's own address].")
@click.option(
    "--gas-limit",
    default=DEFAULT_WITHDRAWAL_GAS,
    show_default=True,
    type=click.IntRange(21_000, 30_000_000),
    help="The L1 gas the portal gives the recipient's call when finalizing.",
)
@key_option
@json_option
def withdraw(rpc: str, amount: str, to: str | None, gas_limit: int, key: str | None, as_json: bool) -> None:
    """Start a withdrawal on L2: send ETH to the L2ToL1MessagePasser for an L1 recipient.

    Prove it with `sequencer bridge prove TXHASH` once an output covers its block.

    \b
    Example:
      sequencer bridge withdraw --rpc http://127.0.0.1:8545 --amount 0.5
    """
    from eth_account import Account
    from web3 import Web3

    wei = parse_amount(amount)
    recipient = _address(to, "--to") if to is not None else None
    try:
        l2 = _web3(rpc)
        try:
            chain_id = int(l2.eth.chain_id)
        except Exception as exc:
            raise BridgeError(f"cannot reach the sequencer at {rpc}: {exc}") from None
        account = Account.from_key(resolve_bridge_key(key, chain_id, "L2"))
        passer = l2.eth.contract(address=Web3.to_checksum_address(MESSAGE_PASSER), abi=message_passer_abi())
        call = passer.functions.initiateWithdrawal(recipient or account.address, gas_limit, b"")
        tx = call.build_transaction(
            {
                "from": account.address,
                "value": wei,
                "nonce": l2.eth.get_transaction_count(account.address, "pending"),
                "chainId": chain_id,
            }
        )
        tx_hash = l2.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        bridge = Bridge(rpc)
        deadline = time.monotonic() + RECEIPT_TIMEOUT_S
        while True:  # until the transaction's block is sealed (a proof needs a sealed block)
            try:
                found = bridge.find(bytes(tx_hash))
                break
            except BridgeError as exc:
                if "open block" not in str(exc) and "no L2 transaction" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise BridgeError(
                        f"L2 transaction 0x{bytes(tx_hash).hex()} not sealed in {RECEIPT_TIMEOUT_S:g} s"
                    ) from None
                time.sleep(0.2)
    except (BridgeError, ConfigError) as exc:
        _fail(str(exc))
    except Exception as exc:  # the node refused the transaction (funds, fees...)
        _fail(f"the sequencer refused the withdrawal: {exc}")
    w = found.withdrawal
    data = {
        "l2TxHash": "0x" + found.tx_hash.hex(),
        "l2Block": found.l2_block,
        "withdrawalHash": "0x" + w.hash.hex(),
        "nonce": hex(w.nonce),
        "sender": w.as_tuple()[1],
        "target": w.as_tuple()[2],
        "value": str(w.value),
        "gasLimit": w.gas_limit,
    }
    rows: list[Row] = [
        ("L2 transaction", f"{data['l2TxHash']} (block {found.l2_block})"),
        ("withdrawal hash", data["withdrawalHash"]),
        ("from (L2) -> to (L1)", f"{data['sender']} -> {data['target']}"),
        ("value", _eth(w.value)),
        ("next", "prove it once an output covers its block: sequencer bridge prove TXHASH --l1 L1.toml"),
    ]
    emit(as_json, data, "withdrawal initiated", rows)


@click.command("prove")
@click.argument("tx_hash", metavar="TXHASH")
@l1_option
@rpc_option
@key_option
@json_option
def prove(tx_hash: str, l1_path: Path, rpc: str, key: str | None, as_json: bool) -> None:
    """Prove a withdrawal on the L1 portal, against the output root posted for its L2 block.

    TXHASH is the L2 transaction that started the withdrawal (`sequencer bridge withdraw`).

    \b
    Example:
      sequencer bridge prove 0x1234... --l1 l1.toml --rpc http://127.0.0.1:8545
    """
    hash_bytes = parse_tx_hash(tx_hash)
    try:
        settlement = load_settlement(l1_path)
        bridge = Bridge(rpc, settlement)
        found = bridge.find(hash_bytes)
        st = bridge.status(found)
        if st["state"] == "finalized":
            raise BridgeError("the withdrawal is already finalized")
        if st["state"] in ("proven", "finalizable"):
            raise BridgeError(
                f"the withdrawal is already proven: finalizable at {_when(st['finalizableAt'])}"
            )
        if st["state"] in ("initiated", "waiting-for-output"):
            raise BridgeError(
                f"no output on L1 covers L2 block {found.l2_block} yet (the newest is for L2 block "
                f"{st['latestOutputBlock']}): try again once the proposer has posted the next one"
            )
        output = bridge.covering_output(found.l2_block)
        assert output is not None
        args = bridge.prove_arguments(found, output)
        receipt = bridge.send_l1(
            resolve_bridge_key(key, settlement.l1.chain_id, "L1"),
            bridge.portal.functions.proveWithdrawalTransaction(*args),
        )
        ready_at = int(bridge.portal.functions.finalizableAt(found.withdrawal.hash).call())
    except (BridgeError, ConfigError) as exc:
        _fail(str(exc))
    data = {
        **st,
        "state": "proven",
        "l1TxHash": "0x" + bytes(receipt["transactionHash"]).hex(),
        "l2OutputIndex": output.index,
        "outputBlock": output.l2_block,
        "finalizableAt": ready_at,
    }
    rows: list[Row] = [
        ("withdrawal hash", st["withdrawalHash"]),
        ("L1 transaction", f"{data['l1TxHash']} (block {receipt['blockNumber']})"),
        ("output", f"index {output.index} (L2 block {output.l2_block})"),
        ("finalizable at", _when(ready_at)),
        ("next", "sequencer bridge finalize TXHASH --l1 L1.toml, after that time"),
    ]
    emit(as_json, data, "withdrawal proven", rows)


@click.command("finalize")
@click.argument("tx_hash", metavar="TXHASH")
@l1_option
@rpc_option
@key_option
@json_option
def finalize(tx_hash: str, l1_path: Path, rpc: str, key: str | None, as_json: bool) -> None:
    """Finalize a proven withdrawal on the L1 portal: the portal pays the recipient.

    Only after the challenge period has passed since the proof; only once.

    \b
    Example:
      sequencer bridge finalize 0x1234... --l1 l1.toml
    """
    hash_bytes = parse_tx_hash(tx_hash)
    try:
        settlement = load_settlement(l1_path)
        bridge = Bridge(rpc, settlement)
        found = bridge.find(hash_bytes)
        w = found.withdrawal
        receipt = bridge.send_l1(
            resolve_bridge_key(key, settlement.l1.chain_id, "L1"),
            bridge.portal.functions.finalizeWithdrawalTransaction(w.as_tuple()),
        )
        events = bridge.portal.events.WithdrawalFinalized().process_receipt(receipt)
        success = bool(events[0]["args"]["success"]) if events else False
    except (BridgeError, ConfigError) as exc:
        _fail(str(exc))
    data = {
        "withdrawalHash": "0x" + w.hash.hex(),
        "l1TxHash": "0x" + bytes(receipt["transactionHash"]).hex(),
        "target": w.as_tuple()[2],
        "value": str(w.value),
        "success": success,
        "state": "finalized",
    }
    rows: list[Row] = [
        ("withdrawal hash", data["withdrawalHash"]),
        ("L1 transaction", f"{data['l1TxHash']} (block {receipt['blockNumber']})"),
        (
            "paid",
            f"{_eth(w.value)} to {data['target']}" if success else "the target's call failed: nothing paid",
        ),
    ]
    emit(as_json, data, "withdrawal finalized", rows)
