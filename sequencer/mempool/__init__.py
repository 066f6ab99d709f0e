"""Transaction pool: admission, nonce ordering, arrival-order selection."""
