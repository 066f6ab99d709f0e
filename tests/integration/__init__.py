"""Tests against the real daemon and verifier processes, through real clients."""
