"""The state-diff feed: mini-blocks and sealed EVM blocks, streamed to followers (docs/feed.md)."""
