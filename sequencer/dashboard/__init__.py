"""The live dashboard: a read-only page of the chain, served by the sequencer and the verifier.

``app`` mounts the page, its static files (the vendored uPlot charts included) and its status
endpoint on an aiohttp app; ``verifiers`` polls the verifiers a sequencer is told about. The
page itself (``static/``) draws from the status endpoint and, on a sequencer, from the node's
own WebSocket subscriptions (``miniBlocks``, ``newHeads``). It knows nothing of the node: each
process passes in the callable that builds its view.
"""
