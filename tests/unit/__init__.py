"""Specifications of the node's parts, in-process (no daemon)."""
