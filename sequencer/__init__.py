"""A real-time Ethereum Layer 2 sequencer: millisecond mini-blocks over py-evm."""

import importlib.util
import os

__version__ = "0.1.0"
CLIENT_NAME = "megapy"

# eth-hash picks pycryptodome when both backends are installed; safe-pysha3 hashes the short
# inputs of transactions, tries and receipts ~6x faster, with identical digests. Chosen before
# the first hash (eth-hash resolves its backend lazily); an explicit setting wins.
if importlib.util.find_spec("sha3") is not None:
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
