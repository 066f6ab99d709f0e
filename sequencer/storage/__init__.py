"""Durable storage of the chain and its state."""
