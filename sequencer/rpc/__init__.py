"""JSON-RPC transport and methods."""
