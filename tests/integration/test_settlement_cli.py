"""The settlement commands (run in process) refuse what cannot work with one ``error:`` line and exit code 2:
an L1 that does not answer, a settlement file that is missing, malformed or for another chain,
a settlement fire drill without ``--l1``, an overwrite without ``--force``, a derivation without
its settlement file or with a feed that is not a WebSocket URL, a data dir of the other kind of
verifier (a derivation verifier's and a feed verifier's share the state store's layout)."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from sequencer.cli import main as sequencer_main
from sequencer.config import load_config
from sequencer.settlement.keys import address_of
from sequencer.settlement.settings import (
    ContractAddresses,
    DerivationSettings,
    L1Settings,
    Roles,
    Settlement,
    inbox_address,
    render_settlement,
)
from tests.support.accounts import DEV_KEYS
from tests.support.daemon import DEVNET
from verifier.checkpoint import Checkpoint, encode_checkpoint
from verifier.cli import main as verifier_main
from verifier.derivation.bank import ChannelBank
from verifier.derivation.checkpoint import DerivationCheckpoint, DerivationState, encode_derivation
from verifier.derivation.genesis import build_genesis
from verifier.state import FlatState
from verifier.store import StateStore, state_dir


@dataclass
class Done:
    returncode: int
    stderr: str


def run(program: str, *args: str) -> Done:
    """The command, in process (``sequencer.cli`` or ``verifier.cli``): its exit code and stderr.
    The logging set-up the commands do is undone afterwards."""
    main = sequencer_main if program == "sequencer.cli" else verifier_main
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        result = CliRunner().invoke(main, list(args))
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return Done(result.exit_code, result.stderr)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settlement_file(path: Path, genesis_hash: bytes) -> Path:
    path.write_text(
        render_settlement(
            Settlement(
                l1=L1Settings(f"http://127.0.0.1:{closed_port()}", 31337, 1, b"\x01" * 32),
                l2_chain_id=1337,
                l2_genesis_hash=genesis_hash,
                l2_genesis_timestamp=1_767_225_600,
                contracts=ContractAddresses(b"\x01" * 20, b"\x02" * 20, inbox_address(1337)),
                roles=Roles(address_of(DEV_KEYS[1]), address_of(DEV_KEYS[2]), address_of(DEV_KEYS[3])),
                derivation=DerivationSettings(10),
            )
        )
    )
    return path


def test_deploy_refuses_an_l1_that_does_not_answer_and_an_existing_file(tmp_path: Path) -> None:
    out = tmp_path / "l1.toml"
    done = run(
        "sequencer.cli",
        "l1",
        "deploy",
        "--l1-rpc",
        f"http://127.0.0.1:{closed_port()}",
        "--key",
        DEV_KEYS[0],
        "--out",
        str(out),
    )
    assert done.returncode == 2 and done.stderr.startswith("error: cannot reach the L1") and not out.exists()
    out.write_text("keep me")
    done = run(
        "sequencer.cli",
        "l1",
        "deploy",
        "--l1-rpc",
        "http://127.0.0.1:1",
        "--key",
        DEV_KEYS[0],
        "--out",
        str(out),
    )
    assert done.returncode == 2 and "exists: pass --force" in done.stderr and out.read_text() == "keep me"
    done = run(
        "sequencer.cli",
        "l1",
        "deploy",
        "--l1-rpc",
        "http://127.0.0.1:1",
        "--key",
        "0x12",
        "--out",
        str(tmp_path / "x"),
    )
    assert done.returncode == 2 and "--key: expected a 32-byte hex private key" in done.stderr


def test_run_refuses_a_missing_or_foreign_settlement_file_and_a_drill_without_l1(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = run(
        "sequencer.cli",
        "run",
        "--config",
        str(DEVNET),
        "--data-dir",
        str(data),
        "--l1",
        str(tmp_path / "none.toml"),
    )
    assert done.returncode == 2 and "settlement file not found" in done.stderr
    foreign = settlement_file(tmp_path / "l1.toml", b"\x42" * 32)
    done = run(
        "sequencer.cli",
        "run",
        "--config",
        str(DEVNET),
        "--data-dir",
        str(data),
        "--l1",
        str(foreign),
        "--rpc-port",
        "0",
    )
    assert done.returncode == 2 and "is not this chain's genesis" in done.stderr
    done = run(
        "sequencer.cli", "run", "--config", str(DEVNET), "--data-dir", str(data), "--dev-fault", "output-root"
    )
    assert done.returncode == 2 and "needs --l1" in done.stderr


def test_derive_needs_its_settlement_file_no_feed_and_the_same_chain(tmp_path: Path) -> None:
    base = ("verifier.cli", "run", "--derive", "--config", str(DEVNET), "--data-dir", str(tmp_path / "d"))
    done = run(*base)
    assert done.returncode == 2 and "--derive reads L1: give --l1" in done.stderr
    foreign = settlement_file(tmp_path / "l1.toml", b"\x42" * 32)
    done = run(*base, "--l1", str(foreign), "--feed", "http://127.0.0.1:1")
    assert done.returncode == 2 and "--feed must be a ws:// or wss:// URL" in done.stderr
    done = run(*base, "--l1", str(foreign))
    assert done.returncode == 2 and "not the same chain" in done.stderr
    done = run("verifier.cli", "run", "--config", str(DEVNET), "--data-dir", str(tmp_path / "f"))
    assert done.returncode == 2 and "give --feed" in done.stderr


def test_a_data_dir_holds_either_a_derivation_or_a_feed_verifier_and_the_other_refuses_it(
    tmp_path: Path,
) -> None:
    derived = tmp_path / "derived"
    chain = load_config(DEVNET).chain
    flat = FlatState()
    genesis = build_genesis(flat, chain)
    state = DerivationState(0, b"", genesis, (genesis.hash,), b"\x01" * 20, ChannelBank(50))
    store = StateStore(state_dir(derived))
    store.commit(flat.take_changes(), encode_derivation(DerivationCheckpoint("31337:0x..", state, (state,))))
    store.close()
    feed_args = ("verifier.cli", "run", "--feed", f"ws://127.0.0.1:{closed_port()}", "--config", str(DEVNET))
    done = run(*feed_args, "--data-dir", str(derived))
    assert done.returncode == 2 and "holds a derivation verifier's state (--derive)" in done.stderr
    followed = tmp_path / "followed"
    store = StateStore(state_dir(followed))
    store.commit(None, encode_checkpoint(Checkpoint()))
    store.close()
    foreign = settlement_file(tmp_path / "l1.toml", b"\x42" * 32)
    derive_args = ("verifier.cli", "run", "--derive", "--l1", str(foreign), "--config", str(DEVNET))
    done = run(*derive_args, "--data-dir", str(followed))
    assert done.returncode == 2 and "holds a feed verifier's state" in done.stderr
