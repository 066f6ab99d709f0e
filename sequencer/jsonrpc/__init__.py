"""JSON-RPC 2.0, free of I/O and of the node: request dispatch, parameter decoding, protocol errors.

Shared by the sequencer's RPC (``sequencer.rpc``) and the verifier's read-only endpoint: it knows
nothing of chains, pools or blocks. Application errors reach it already translated by the caller's
table (``sequencer.rpc.errors`` for the sequencer).
"""
