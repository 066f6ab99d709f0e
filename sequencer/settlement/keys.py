"""The batcher's and the proposer's keys: from a flag, the environment, the settlement file, or
(on a development L1) the standard development accounts.

In that order: ``--batcher-key``/``--proposer-key``, then ``SEQUENCER_BATCHER_KEY``/
``SEQUENCER_PROPOSER_KEY``, then the settlement file's ``[keys]``. When none is given and the L1
is a development chain (anvil's and hardhat's chain ids) whose role address is one of the ten
standard development accounts (mnemonic ``test test ... junk``), that account's well-known key
is used. A key whose address is not the role's is refused: a batcher posting from another
address would be ignored by every verifier.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from eth_account import Account

from sequencer.errors import ConfigError
from sequencer.settlement.settings import parse_key

BATCHER_KEY_ENVVAR = "SEQUENCER_BATCHER_KEY"
PROPOSER_KEY_ENVVAR = "SEQUENCER_PROPOSER_KEY"
DEV_L1_CHAIN_IDS = (31337, 1337)
DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
"""The standard development accounts (anvil's and hardhat's); never for anything real."""
DEV_ROLES = {"deployer": 0, "batcher": 1, "proposer": 2, "challenger": 3}
"""Which development account ``sequencer l1 deploy`` gives each role by default."""


def address_of(key: str) -> bytes:
    """The address a private key signs for."""
    return bytes.fromhex(Account.from_key(key).address[2:])


def dev_key_for(address: bytes) -> str | None:
    """The well-known key of a standard development account, or ``None``."""
    for key in DEV_KEYS:
        if address_of(key) == address:
            return key
    return None


@dataclass(frozen=True, slots=True)
class RoleKey:
    """A role's private key and where it came from (for messages; the key is never shown)."""

    key: str = field(repr=False)
    source: str


def resolve_key(
    role: str,
    address: bytes,
    *,
    flag: str | None,
    file_key: str | None,
    l1_chain_id: int,
    env: dict[str, str] | None = None,
) -> RoleKey:
    """The key for ``role`` (``batcher`` or ``proposer``) at ``address``; see the module docstring."""
    environ = os.environ if env is None else env
    variable = BATCHER_KEY_ENVVAR if role == "batcher" else PROPOSER_KEY_ENVVAR
    candidates = (
        (flag, f"--{role}-key"),
        (environ.get(variable), variable),
        (file_key, f"keys.{role}"),
    )
    for value, source in candidates:
        if value:
            key = parse_key(value, source)
            if address_of(key) != address:
                raise ConfigError(
                    f"{source}: the {role} key is for 0x{address_of(key).hex()}, but the settlement "
                    f"file's {role} is 0x{address.hex()}"
                )
            return RoleKey(key, source)
    if l1_chain_id in DEV_L1_CHAIN_IDS:
        dev = dev_key_for(address)
        if dev is not None:
            return RoleKey(dev, "the standard development account")
    raise ConfigError(
        f"no {role} key: pass --{role}-key, set {variable}, or add keys.{role} to the settlement file "
        f"(the {role} is 0x{address.hex()})"
    )
