"""RPC front ends: processes that own the JSON-RPC port and the accept path (``rpc.frontends``)."""
