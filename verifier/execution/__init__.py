"""The verifier's py-evm adapter: the only verifier package that imports py-evm (``eth*``).

Re-execution runs py-evm's Prague state machine (the reference EVM) over the verifier's own
flat state (``verifier/state.py``):

* ``transactions``: raw transactions decoded, the stateless rules a sequencer admits them by
  checked, senders recovered from the raw bytes (:func:`prepare_transaction`);
* ``accountdb``: :class:`OverlayAccountDB`, a journaled overlay implementing py-evm's
  ``AccountDatabaseAPI`` over the flat state, drained at the end of a mini-block as the
  canonical diff execution produced;
* ``executor``: :class:`MiniBlockExecutor`, one EVM block's mini-blocks in turn.
* ``deposits``: L1 deposits (type 0x7E) re-executed by the verifier's own copy of OP's deposit
  rules (mint first, no fee, failed deposits keep the mint), apart from the sequencer's.

The flat state is never written here: the caller compares the executed diff with the claimed
one and applies the claim. Nothing else in the verifier sees py-evm: results are plain values
(:class:`ExecutedTx`, :class:`ExecutedMiniBlock`, ``AccountChange``).
"""

from verifier.execution.accountdb import OverlayAccountDB
from verifier.execution.executor import ExecutedMiniBlock, ExecutedTx, MiniBlockExecutor
from verifier.execution.transactions import INVALID_TRANSACTION, InvalidTransaction, prepare_transaction

__all__ = [
    "INVALID_TRANSACTION",
    "ExecutedMiniBlock",
    "ExecutedTx",
    "InvalidTransaction",
    "MiniBlockExecutor",
    "OverlayAccountDB",
    "prepare_transaction",
]
