"""The py-evm adapter: the only package of the sequencer that imports py-evm."""
