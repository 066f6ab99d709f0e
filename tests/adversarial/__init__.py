"""Tests that attack the real daemon the way a hostile client, transaction or peer would (issue #12)."""
