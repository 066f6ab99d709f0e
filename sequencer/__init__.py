"""A real-time Ethereum Layer 2 sequencer: millisecond mini-blocks over py-evm."""

__version__ = "0.1.0"
CLIENT_NAME = "megapy"
