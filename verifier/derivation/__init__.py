"""Deriving the chain from L1 alone (``verifier run --derive``), OP-stack-shaped.

The verifier reads L1 from the settlement's start block: the batcher's transactions to the batch
inbox become frames, channels and batches (``sequencer.settlement.channels``, the shared codec),
each batch is checked (parent, L1 origin) and re-executed with the feed verifier's own parts
(the py-evm adapter ``verifier/execution/``, the flat state ``verifier/state.py`` and its store
``verifier/store.py``, the trust-anchor genesis ``verifier/genesis.py``, headers
``verifier/header.py``) into the same L2 block, and every output root proposed on L1 is checked
against the derived block. ``bank`` buffers frames into channels, ``blocks`` builds an L2 block
from a batch, ``genesis`` builds block 0 from the chain config, ``deriver`` is the pipeline for
one L1 block, ``deposits`` its deposit rules (the portal's deposits, in order, in time),
``records`` (derived blocks and their undo records) and ``checkpoint`` keep what was derived and
where to resume, ``unsafe`` compares a feed's blocks with the derived ones, ``node`` follows L1
(reorgs included) and ``cli`` is the command's body.
"""
