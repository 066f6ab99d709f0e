"""Attacks on the real daemon: what a careless or hostile client sends, and what must hold."""
