"""The bridge between L1 and the L2, in the OP stack's shapes (docs/bridge.md).

Pure encodings shared by the sequencer, the verifiers and the CLI: deposits (``deposits``) and
withdrawals (``withdrawals``). Nothing here talks to a network or imports py-evm.
"""
