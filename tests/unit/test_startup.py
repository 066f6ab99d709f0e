"""Specification of start-up's genesis timestamp (``sequencer.builder.startup.open_chain``): a
config that leaves ``chain.genesis_timestamp`` out stamps block 0 with the data dir's creation
time, and the data dir keeps it; a configured timestamp is used as given."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from sequencer.builder.startup import open_chain
from sequencer.config import ChainConfig, load_preset
from sequencer.errors import StorageError
from sequencer.genesis import genesis_block


def devnet_chain(**changes: object) -> ChainConfig:
    return dataclasses.replace(load_preset("devnet").chain, **changes)  # type: ignore[arg-type]


def genesis_timestamp_of(config: ChainConfig, data_dir: Path) -> int:
    loaded = open_chain(config, data_dir)
    try:
        genesis = loaded.chain.get_block(0)
        assert genesis is not None
        assert loaded.chain.config.genesis_timestamp == genesis.timestamp
        return genesis.timestamp
    finally:
        loaded.db.close()


def test_the_shipped_devnet_leaves_the_genesis_timestamp_to_the_data_dir() -> None:
    assert load_preset("devnet").chain.genesis_timestamp is None


def test_a_new_data_dir_stamps_genesis_with_its_creation_time(tmp_path: Path) -> None:
    before = int(time.time())
    stamped = genesis_timestamp_of(devnet_chain(), tmp_path / "d")
    assert before <= stamped <= int(time.time())


def test_a_reopened_data_dir_keeps_its_genesis_timestamp(tmp_path: Path) -> None:
    first = genesis_timestamp_of(devnet_chain(), tmp_path / "d")
    time.sleep(1.1)
    assert genesis_timestamp_of(devnet_chain(), tmp_path / "d") == first


def test_two_data_dirs_created_apart_are_different_chains(tmp_path: Path) -> None:
    genesis_timestamp_of(devnet_chain(), tmp_path / "a")
    time.sleep(1.1)
    genesis_timestamp_of(devnet_chain(), tmp_path / "b")
    hashes = []
    for name in ("a", "b"):
        loaded = open_chain(devnet_chain(), tmp_path / name)
        hashes.append(loaded.chain.head.hash)
        loaded.db.close()
    assert hashes[0] != hashes[1]


def test_a_configured_genesis_timestamp_is_used_as_given(tmp_path: Path) -> None:
    assert (
        genesis_timestamp_of(devnet_chain(genesis_timestamp=1_700_000_000), tmp_path / "d") == 1_700_000_000
    )


def test_a_data_dir_refuses_a_config_with_another_genesis_timestamp(tmp_path: Path) -> None:
    genesis_timestamp_of(devnet_chain(genesis_timestamp=1_700_000_000), tmp_path / "d")
    with pytest.raises(StorageError, match="different genesis"):
        open_chain(devnet_chain(genesis_timestamp=1_700_000_001), tmp_path / "d")


def test_genesis_cannot_be_built_before_its_timestamp_is_resolved() -> None:
    with pytest.raises(ValueError, match="resolved"):
        genesis_block(devnet_chain(), b"\x00" * 32)
