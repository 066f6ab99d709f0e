"""The test suite: unit specifications, integration tests against the real daemon, support."""
