"""A verifier: follows a sequencer's state-diff feed and re-executes everything it streams."""

import importlib.util
import os

__version__ = "0.1.0"

# Like the sequencer: keccak through safe-pysha3 when installed (identical digests, faster).
if importlib.util.find_spec("sha3") is not None:
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
