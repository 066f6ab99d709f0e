"""Specification of sequencer.codec: canonical RLP encodings of mini-blocks, EVM blocks and state
diffs round-trip exactly, and the mini-block hash commits to every consensus field."""

from __future__ import annotations

import dataclasses
from functools import cache

import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth_account import Account
from eth_hash.auto import keccak

from sequencer.codec import (
    CODEC_VERSION,
    decode_evm_block,
    decode_location,
    decode_mini_block,
    diff_from_list,
    diff_to_list,
    encode_diff,
    encode_evm_block,
    encode_location,
    encode_mini_block,
    mini_block_hash,
    mini_block_roots,
    mini_block_signing_hash,
)
from sequencer.execution.headers import make_header
from sequencer.types import (
    AccountDiff,
    BlockEnv,
    EvmBlock,
    Log,
    MiniBlock,
    Receipt,
    StateDiff,
    TxLocation,
)

CHAIN_ID = 1337
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
SENDER = bytes.fromhex(Account.from_key(KEY).address[2:])
RECIPIENT_HEX = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
RECIPIENT = bytes.fromhex(RECIPIENT_HEX[2:])
CONTRACT = bytes.fromhex("5FbDB2315678afecb367f032d93F642f64180aa3")
COINBASE = b"\xc0" * 20
GWEI = 10**9
TRANSFER_TOPIC = keccak(b"Transfer(address,address,uint256)")


@cache
def raw_txs() -> tuple[bytes, ...]:
    account = Account.from_key(KEY)
    transfer = account.sign_transaction(
        {
            "type": 2,
            "chainId": CHAIN_ID,
            "nonce": 0,
            "maxFeePerGas": 2 * GWEI,
            "maxPriorityFeePerGas": GWEI,
            "gas": 21_000,
            "to": RECIPIENT_HEX,
            "value": 5,
        }
    )
    create = account.sign_transaction(
        {
            "chainId": CHAIN_ID,
            "nonce": 1,
            "gasPrice": 2 * GWEI,
            "gas": 200_000,
            "to": b"",
            "data": bytes.fromhex("600a600c600039600a6000f3602a60005260206000f3"),
            "value": 0,
        }
    )
    return bytes(transfer.raw_transaction), bytes(create.raw_transaction)


def bloom_bytes(seed: int) -> bytes:
    return bytes((seed * i) % 256 for i in range(256))


def consensus_receipt(tx_type: int, status: int, cumulative: int, logs: tuple[Log, ...]) -> bytes:
    body: bytes = rlp.encode(
        [status, cumulative, bloom_bytes(cumulative), [[lg.address, list(lg.topics), lg.data] for lg in logs]]
    )
    return body if tx_type == 0 else bytes([tx_type]) + body


def receipts(block_number: int, mini_number: int) -> tuple[Receipt, ...]:
    transfer_hash, create_hash = (keccak(raw) for raw in raw_txs())
    log = Log(
        CONTRACT, (TRANSFER_TOPIC, b"\x00" * 12 + SENDER, b"\x00" * 12 + RECIPIENT), (5).to_bytes(32, "big")
    )
    anonymous = Log(CONTRACT, (), b"")
    r1 = Receipt(
        tx_hash=transfer_hash,
        tx_type=2,
        sender=SENDER,
        to=RECIPIENT,
        status=1,
        gas_used=21_000,
        cumulative_gas_used=21_000,
        effective_gas_price=GWEI + 7,
        logs=(),
        bloom=b"\x00" * 256,
        contract_address=None,
        block_number=block_number,
        mini_block_number=mini_number,
        tx_index=4,
        first_log_index=2,
        encoded=consensus_receipt(2, 1, 21_000, ()),
    )
    r2 = Receipt(
        tx_hash=create_hash,
        tx_type=0,
        sender=SENDER,
        to=None,
        status=0,
        gas_used=60_123,
        cumulative_gas_used=81_123,
        effective_gas_price=2 * GWEI,
        logs=(log, anonymous),
        bloom=bloom_bytes(3),
        contract_address=CONTRACT,
        block_number=block_number,
        mini_block_number=mini_number,
        tx_index=5,
        first_log_index=2,
        encoded=consensus_receipt(0, 0, 81_123, (log, anonymous)),
    )
    return r1, r2


def state_diff() -> StateDiff:
    code = bytes.fromhex("602a60005260206000f3")
    return StateDiff(
        (
            AccountDiff(b"\x00" * 20, 0, 0, EMPTY_SHA3, None, (), True),  # deleted
            AccountDiff(CONTRACT, 1, 0, keccak(code), code, ((0, 0), (1, 42), (2**256 - 1, 2**255)), False),
            AccountDiff(RECIPIENT, 0, 10_000 * 10**18 + 5, EMPTY_SHA3, None, (), False),
            AccountDiff(SENDER, 2, 9_999 * 10**18, EMPTY_SHA3, None, (), False),
        )
    )


def env(number: int = 12) -> BlockEnv:
    return BlockEnv(
        number=number,
        timestamp=1_700_000_012,
        parent_hash=keccak(b"parent"),
        base_fee=875_000_000,
        gas_limit=1_000_000_000,
        coinbase=COINBASE,
        prev_randao=keccak(b"randao"),
    )


def mini_block(**overrides: object) -> MiniBlock:
    fields: dict[str, object] = {
        "number": 1234,
        "block_number": 12,
        "index": 3,
        "timestamp_us": 1_700_000_012_345_678,
        "parent_hash": keccak(b"mini 1233"),
        "raw_txs": raw_txs(),
        "tx_hashes": tuple(keccak(raw) for raw in raw_txs()),
        "receipts": receipts(12, 1234),
        "diff": state_diff(),
        "block_env": env(),
        "gas_used": 81_123,
    }
    fields.update(overrides)
    unhashed = MiniBlock(hash=b"", **fields)  # type: ignore[arg-type]
    return dataclasses.replace(unhashed, hash=mini_block_hash(unhashed))


def evm_block(number: int = 12, first: int = 1230, last: int = 1234) -> EvmBlock:
    parent = keccak(b"block 11")
    state_root, tx_root, receipt_root = keccak(b"state"), keccak(b"txs"), keccak(b"receipts")
    bloom = bloom_bytes(5)
    header_rlp, block_hash = make_header(
        number=number,
        parent_hash=parent,
        coinbase=COINBASE,
        state_root=state_root,
        transactions_root=tx_root,
        receipts_root=receipt_root,
        logs_bloom=int.from_bytes(bloom, "big"),
        gas_limit=1_000_000_000,
        gas_used=81_123,
        timestamp=1_700_000_012,
        prev_randao=keccak(b"randao"),
        base_fee=875_000_000,
    )
    return EvmBlock(
        number=number,
        hash=block_hash,
        parent_hash=parent,
        timestamp=1_700_000_012,
        state_root=state_root,
        transactions_root=tx_root,
        receipts_root=receipt_root,
        logs_bloom=bloom,
        gas_used=81_123,
        gas_limit=1_000_000_000,
        base_fee=875_000_000,
        coinbase=COINBASE,
        prev_randao=keccak(b"randao"),
        header_rlp=header_rlp,
        tx_hashes=tuple(keccak(raw) for raw in raw_txs()) if last >= first else (),
        first_mini_block=first,
        last_mini_block=last,
        sealed_at_us=1_700_000_013_000_001,
    )


# -- round trips -----------------------------------------------------------------------------------


def test_mini_block_round_trip() -> None:
    mb = mini_block()
    data = encode_mini_block(mb)
    assert decode_mini_block(data) == mb
    assert encode_mini_block(decode_mini_block(data)) == data


def test_empty_mini_block_round_trip() -> None:
    mb = mini_block(number=0, index=0, raw_txs=(), tx_hashes=(), receipts=(), diff=StateDiff(()))
    assert decode_mini_block(encode_mini_block(mb)) == mb


def test_decoded_tx_hashes_are_the_hashes_of_the_raw_transactions() -> None:
    decoded = decode_mini_block(encode_mini_block(mini_block()))
    assert decoded.tx_hashes == tuple(keccak(raw) for raw in raw_txs())


def test_unknown_mini_block_version_is_refused() -> None:
    item = rlp.decode(encode_mini_block(mini_block()))
    item[0] = CODEC_VERSION + 1
    with pytest.raises(ValueError, match="unsupported mini-block encoding version 2"):
        decode_mini_block(rlp.encode(item))


def test_evm_block_round_trip() -> None:
    block = evm_block()
    assert block.hash == keccak(block.header_rlp)
    data = encode_evm_block(block)
    assert decode_evm_block(data) == block
    assert encode_evm_block(decode_evm_block(data)) == data


def test_empty_evm_block_round_trip() -> None:
    block = evm_block(first=1235, last=1234)  # no mini-blocks: last = first - 1
    assert decode_evm_block(encode_evm_block(block)) == block


def test_empty_genesis_block_round_trip() -> None:
    block = evm_block(number=0, first=0, last=-1)
    decoded = decode_evm_block(encode_evm_block(block))
    assert (decoded.first_mini_block, decoded.last_mini_block) == (0, -1)
    assert decoded == block


def test_unknown_evm_block_version_is_refused() -> None:
    item = rlp.decode(encode_evm_block(evm_block()))
    item[0] = CODEC_VERSION + 1
    with pytest.raises(ValueError, match="unsupported block encoding version"):
        decode_evm_block(rlp.encode(item))


def test_header_fields_decode_from_the_header() -> None:
    block = evm_block()
    decoded = decode_evm_block(encode_evm_block(block))
    assert decoded.logs_bloom == block.logs_bloom and len(decoded.logs_bloom) == 256
    assert decoded.coinbase == COINBASE
    assert decoded.prev_randao == keccak(b"randao")
    assert decoded.state_root != BLANK_ROOT_HASH


def test_state_diff_round_trip() -> None:
    diff = state_diff()
    assert diff_from_list(rlp.decode(encode_diff(diff))) == diff
    assert diff_from_list(diff_to_list(StateDiff(()))) == StateDiff(())


def test_tx_location_round_trip() -> None:
    loc = TxLocation(
        block_number=2**40, mini_block_number=2**50, index_in_block=70_000, index_in_mini_block=3
    )
    assert len(encode_location(loc)) == 24
    assert decode_location(encode_location(loc)) == loc


# -- the mini-block hash -----------------------------------------------------------------------------


def rehash(mb: MiniBlock) -> bytes:
    return mini_block_hash(dataclasses.replace(mb, hash=b"\xff" * 32))  # its own hash is no input


def test_mini_block_hash_is_deterministic() -> None:
    mb = mini_block()
    assert rehash(mb) == mb.hash == mini_block().hash
    assert len(mb.hash) == 32


def changed_receipt() -> tuple[Receipt, ...]:
    r1, r2 = receipts(12, 1234)
    return r1, dataclasses.replace(r2, status=1 - r2.status, encoded=consensus_receipt(0, 1, 81_123, r2.logs))


def changed_diff_slot() -> StateDiff:
    accounts = list(state_diff().accounts)
    accounts[1] = dataclasses.replace(accounts[1], storage=((0, 0), (1, 43), (2**256 - 1, 2**255)))
    return StateDiff(tuple(accounts))


def changed_diff_balance() -> StateDiff:
    accounts = list(state_diff().accounts)
    accounts[3] = dataclasses.replace(accounts[3], balance=accounts[3].balance - 1)
    return StateDiff(tuple(accounts))


@pytest.mark.parametrize(
    "change",
    [
        {"number": 1235},
        {"block_number": 13},
        {"index": 4},
        {"timestamp_us": 1_700_000_012_345_679},
        {"parent_hash": keccak(b"another parent")},
        {
            "raw_txs": tuple(reversed(raw_txs())),
            "tx_hashes": tuple(keccak(raw) for raw in reversed(raw_txs())),
        },
        {"raw_txs": raw_txs()[:1], "tx_hashes": (keccak(raw_txs()[0]),)},
        {"receipts": changed_receipt()},
        {"receipts": receipts(12, 1234)[:1]},
        {"diff": changed_diff_slot()},
        {"diff": changed_diff_balance()},
        {"diff": StateDiff(state_diff().accounts[1:])},
        {"block_env": dataclasses.replace(env(), base_fee=875_000_001)},
        {"gas_used": 81_124},
        {
            "receipts": (
                receipts(12, 1234)[0],
                dataclasses.replace(receipts(12, 1234)[1], effective_gas_price=7),
            )
        },
    ],
    ids=[
        "number",
        "block_number",
        "index",
        "timestamp",
        "parent",
        "tx-order",
        "tx-missing",
        "receipt-status",
        "receipt-missing",
        "diff-slot",
        "diff-balance",
        "diff-account-missing",
        "env-base-fee",
        "gas-used",
        "receipt-effective-gas-price",
    ],
)
def test_mini_block_hash_commits_to(change: dict[str, object]) -> None:
    assert mini_block(**change).hash != mini_block().hash


def test_mini_block_hash_commits_to_nothing_a_follower_is_not_sent() -> None:
    """Version 2: the sender, the bloom, the consensus encoding and the mini-block number kept in
    a receipt record are not on the wire, so they are no input (a follower recomputes the hash)."""
    r1, r2 = receipts(12, 1234)
    off_wire = dataclasses.replace(
        r2, sender=b"\x99" * 20, bloom=b"\xff" * 256, encoded=b"\x02junk", mini_block_number=7, to=None
    )
    assert mini_block(receipts=(r1, off_wire)).hash == mini_block().hash


def test_the_signing_hash_is_megaeths_header_digest() -> None:
    """keccak(rlp([block_number, block_timestamp, index, mini_block_number, mini_block_timestamp,
    gas_used, transaction_root, receipt_root])), the roots being tries over the mini-block's own
    transactions and receipt encodings keyed by rlp(index)."""
    import rlp
    from trie.hexary import HexaryTrie

    mb = mini_block()
    txs, rcs = HexaryTrie({}), HexaryTrie({})
    for i, raw in enumerate(mb.raw_txs):
        txs[rlp.encode(i)] = raw
    for i, r in enumerate(mb.receipts):
        rcs[rlp.encode(i)] = r.encoded
    assert mini_block_roots(mb) == (txs.root_hash, rcs.root_hash)
    header = [mb.block_number, mb.block_env.timestamp, mb.index, mb.number, mb.timestamp_us, mb.gas_used]
    assert mini_block_signing_hash(mb) == keccak(rlp.encode([*header, txs.root_hash, rcs.root_hash]))
    assert mini_block_signing_hash(mini_block(gas_used=81_124)) != mini_block_signing_hash(mb)
