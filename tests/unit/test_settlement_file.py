"""The settlement file, the role keys, the output root and the batcher's durable progress.

The settlement file written by ``sequencer l1 deploy`` reads back as what was written; a bad one
is refused naming the file and the key. Keys come from a flag, the environment, the file, or
(on a development L1 only) the standard development accounts, and must be the role's. The
output root is OP's version 0. The batcher's progress survives a restart exactly and refuses a
data dir settled on another deployment.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from sequencer.errors import ConfigError, StorageError
from sequencer.settlement.batcher import bumped, calldata_gas
from sequencer.settlement.keys import DEV_KEYS, address_of, resolve_key
from sequencer.settlement.outputs import EMPTY_TRIE_ROOT, output_root_v0
from sequencer.settlement.progress import (
    BatcherProgress,
    ChannelRecord,
    FrameTx,
    Inclusion,
    Origin,
    ProgressStore,
    deployment_id,
)
from sequencer.settlement.settings import (
    BatcherSettings,
    ContractAddresses,
    DerivationSettings,
    KeySettings,
    L1Settings,
    Roles,
    Settlement,
    inbox_address,
    load_settlement,
    render_settlement,
)

BATCHER = address_of(DEV_KEYS[1])
PROPOSER = address_of(DEV_KEYS[2])


def settlement() -> Settlement:
    return Settlement(
        l1=L1Settings("http://127.0.0.1:8545", 31337, 7, b"\x07" * 32),
        l2_chain_id=1337,
        l2_genesis_hash=b"\x99" * 32,
        l2_genesis_timestamp=1_767_225_600,
        contracts=ContractAddresses(b"\x01" * 20, b"\x02" * 20, inbox_address(1337)),
        roles=Roles(BATCHER, PROPOSER, b"\x03" * 20),
        derivation=DerivationSettings(10, 25),
        batcher=BatcherSettings(max_delay_ms=500, origin_depth=1, max_backlog_blocks=30),
    )


def test_the_inbox_address_follows_the_op_convention() -> None:
    assert inbox_address(1337).hex() == "ff00000000000000000000000000000000001337"
    assert inbox_address(10).hex() == "ff00000000000000000000000000000000000010"


def test_a_written_settlement_file_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "l1.toml"
    path.write_text(render_settlement(settlement()))
    assert load_settlement(path) == settlement()


def test_the_portal_reads_back_and_a_file_without_one_has_no_bridge(tmp_path: Path) -> None:
    with_portal = dataclasses.replace(
        settlement(), contracts=dataclasses.replace(settlement().contracts, portal=b"\x04" * 20)
    )
    path = tmp_path / "l1.toml"
    path.write_text(render_settlement(with_portal))
    assert load_settlement(path).contracts.portal == b"\x04" * 20
    path.write_text(render_settlement(settlement()))  # a file of before the bridge: no portal key
    assert "\nportal" not in path.read_text()
    assert load_settlement(path).contracts.portal is None


def test_keys_are_never_written_to_the_settlement_file() -> None:
    with_keys = dataclasses.replace(settlement(), keys=KeySettings(DEV_KEYS[1], DEV_KEYS[2]))
    text = render_settlement(with_keys)
    assert DEV_KEYS[1][2:] not in text and DEV_KEYS[2][2:] not in text
    assert DEV_KEYS[1] not in repr(with_keys)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (("chain_id = 31337", "chain_id = 0"), "l1.chain_id: must be between 1"),
        (('rpc = "http://127.0.0.1:8545"', 'rpc = "ws://x"'), "l1.rpc: expected an http"),
        (("output_interval_blocks = 10", "output_interval_blocks = -1"), "derivation.output_interval_blocks"),
        (("[proposer]", "[proposer]\nsurprise = 1"), "proposer: unknown key"),
        (("max_delay_ms = 500", 'max_delay_ms = "soon"'), "batcher.max_delay_ms: expected an integer"),
        (("\n[roles]", "\n[extra]\n[roles]"), "unknown table"),
    ],
)
def test_a_bad_settlement_file_names_the_file_and_the_key(
    tmp_path: Path, edit: tuple[str, str], problem: str
) -> None:
    path = tmp_path / "l1.toml"
    path.write_text(render_settlement(settlement()).replace(*edit, 1))
    with pytest.raises(ConfigError, match=problem) as info:
        load_settlement(path)
    assert str(path) in str(info.value)


def test_a_missing_table_or_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "l1.toml"
    path.write_text(render_settlement(settlement()).replace("[contracts]", "[contractz]"))
    with pytest.raises(ConfigError, match="contractz"):
        load_settlement(path)
    with pytest.raises(ConfigError, match="not found"):
        load_settlement(tmp_path / "nope.toml")


def test_keys_come_from_flag_then_environment_then_file_then_dev_accounts() -> None:
    other = "0x" + "42" * 32
    env = {"SEQUENCER_BATCHER_KEY": DEV_KEYS[1]}
    assert resolve_key(
        "batcher", BATCHER, flag=DEV_KEYS[1], file_key=other, l1_chain_id=1, env={}
    ).source == ("--batcher-key")
    assert resolve_key("batcher", BATCHER, flag=None, file_key=other, l1_chain_id=1, env=env).source == (
        "SEQUENCER_BATCHER_KEY"
    )
    assert resolve_key("batcher", BATCHER, flag=None, file_key=DEV_KEYS[1], l1_chain_id=1, env={}).source == (
        "keys.batcher"
    )
    dev = resolve_key("batcher", BATCHER, flag=None, file_key=None, l1_chain_id=31337, env={})
    assert dev.key == DEV_KEYS[1] and "development" in dev.source
    assert DEV_KEYS[1] not in repr(dev)


def test_a_key_for_another_address_or_no_key_off_devnet_is_refused() -> None:
    with pytest.raises(ConfigError, match="the batcher key is for"):
        resolve_key("batcher", BATCHER, flag=DEV_KEYS[2], file_key=None, l1_chain_id=31337, env={})
    with pytest.raises(ConfigError, match="no proposer key: pass --proposer-key"):
        resolve_key("proposer", PROPOSER, flag=None, file_key=None, l1_chain_id=1, env={})
    with pytest.raises(ConfigError, match="32-byte hex private key"):
        resolve_key("batcher", BATCHER, flag="0x1234", file_key=None, l1_chain_id=1, env={})


def test_the_output_root_is_version_zero_over_state_root_message_passer_and_block_hash() -> None:
    state_root, block_hash = b"\x01" * 32, b"\x02" * 32
    passer_root = b"\x03" * 32
    expected = keccak(b"\x00" * 32 + state_root + passer_root + block_hash)
    assert output_root_v0(state_root, block_hash, passer_root) == expected
    assert keccak(bytes.fromhex("80")) == EMPTY_TRIE_ROOT  # keccak(rlp(b""))
    with pytest.raises(ValueError, match="32 bytes"):
        output_root_v0(b"\x01", block_hash, passer_root)
    with pytest.raises(ValueError, match="message_passer_storage_root must be 32 bytes"):
        output_root_v0(state_root, block_hash, b"")


def test_calldata_gas_is_prague_pricing_with_the_eip_7623_floor() -> None:
    assert calldata_gas(b"") == 21_000
    assert calldata_gas(b"\x00" * 10) == 21_000 + 10 * 10  # the floor beats 4 per zero byte
    assert calldata_gas(b"\x01" * 10) == 21_000 + 10 * 4 * 10  # and 16 per non-zero byte
    assert bumped(100) == 113 and bumped(1) == 2


def progress(deployment: str) -> BatcherProgress:
    included = Inclusion(b"\xaa" * 32, 40, b"\xbb" * 32)
    tx_a = FrameTx(3, 0, (b"\x02raw-a",), (b"\xcc" * 32,), 10, 1, 1.5, included, 120)
    tx_b = FrameTx(4, 0, (b"\x02raw-b", b"\x02raw-b2"), (b"\xdd" * 32, b"\xee" * 32), 12, 2, 2.5, None, 99)
    return BatcherProgress(
        deployment,
        next_block=21,
        next_nonce=5,
        last_origin=Origin(38, b"\x38" * 32, 1000),
        finalized_block=4,
        channels=(
            ChannelRecord(b"\x01" * 16, 5, 12, Origin(36, b"\x36" * 32, 990), (tx_a,), 7, 900, 300),
            ChannelRecord(b"\x02" * 16, 13, 20, Origin(38, b"\x38" * 32, 1000), (tx_b,), 0, 90, 60),
        ),
    )


def test_progress_survives_a_restart_and_knows_its_safe_and_finalized_blocks(tmp_path: Path) -> None:
    deployment = deployment_id(31337, inbox_address(1337), BATCHER)
    store = ProgressStore(tmp_path)
    assert store.load(deployment) == BatcherProgress(deployment)
    store.save(progress(deployment))
    again = ProgressStore(tmp_path).load(deployment)
    assert again == progress(deployment)
    assert again.safe_block() == 12  # the second channel is not included yet
    assert again.finalized_at(39) == 4 and again.finalized_at(40) == 12


def test_finalized_channels_go_to_the_posted_log_without_their_signed_transactions(tmp_path: Path) -> None:
    store = ProgressStore(tmp_path)
    store.append_posted(list(progress("d").channels[:1]))
    line = store.posted_path.read_text()
    assert line.count("\n") == 1 and '"first_block": 5' in line and b"raw-a".hex() not in line


def test_progress_of_another_deployment_is_refused(tmp_path: Path) -> None:
    store = ProgressStore(tmp_path)
    store.save(progress("31337:0xaa:0xbb"))
    with pytest.raises(ConfigError, match="another deployment"):
        store.load("31337:0xaa:0xcc")
    store.path.write_text('{"deployment": "31337:0xaa:0xbb"}')
    with pytest.raises(StorageError, match="damaged"):
        store.load("31337:0xaa:0xbb")
