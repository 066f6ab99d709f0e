"""Settlement on an L1 (OP-stack-shaped): batches and output roots posted to Ethereum.

Pure pieces, shared with the derivation verifier: the batch/channel/frame codec (``channels``),
the output root (``outputs``), the settlement file (``settings``), the contracts' artifacts
(``contracts``) and the L1 JSON-RPC client (``l1``). The sequencer's side: the batcher
(``batcher``, durable ``progress``, L1 ``origins``), the proposer (``proposer``), the portal's
deposit follower (``deposits``, the producer's deposit source), their supervision (``service``),
the keys (``keys``) and the deployment (``deploy``). The operator's walkthrough is
docs/settlement.md.
"""
