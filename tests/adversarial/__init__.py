"""Attacks on the real daemon: each hostile pattern of issue #12, shown harmless."""
