"""Mini-block and EVM-block production."""
