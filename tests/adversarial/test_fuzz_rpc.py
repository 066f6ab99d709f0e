"""Fuzzing the real daemon's JSON-RPC: nothing a client sends crashes a handler, loses an id, or
stops the chain.

Requests are generated from the execution-apis OpenRPC schemas (hypothesis-jsonschema) and
mutated (wrong types, huge numbers, deep nesting, random bytes as raw transactions, random
batches, ids beyond 64 bits, non-UTF-8 bodies, other content types, over-size bodies); the
generators and the invariants are ``tests/support/fuzz.py``. Specified here, for every answer:

* the HTTP status is 200, 413 for a body over ``rpc.max_body_bytes``, 415 for a body that is not
  ``application/json``;
* the body is a JSON-RPC 2.0 response (an array of them, in request order, for a non-empty
  batch; nothing for notifications), each echoing its request's id exactly, with a ``result``
  (conforming to the spec's result schema for the spec's methods) or an ``error`` whose code
  ``docs/rpc.md`` documents, never -32603 (a crashed handler);
* the same over WebSocket, where ``eth_subscribe`` is fuzzed too and every notification is a
  well-formed ``eth_subscription``;

and after the run: no traceback and no error line in the daemon's log, the process alive,
blocks still sealed and a transfer still included.

In CI (``CI=true``) the examples are derandomized, so a run is reproducible; elsewhere every
run draws new ones. ``python -m bench.fuzz`` runs 10,000 and more.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.configuration import set_hypothesis_home_dir

from tests.support.daemon import Daemon, start_daemon
from tests.support.fuzz import (
    FuzzClient,
    Generators,
    Probe,
    Stats,
    describe_failures,
    node_problems,
    prepare_chain,
)
from tests.support.openrpc import load_spec

IN_CI = os.environ.get("CI") == "true"
HTTP_EXAMPLES = 250
WS_EXAMPLES = 50
SUBSCRIBE_EXAMPLES = 40


def fuzz_settings(examples: int) -> settings:
    """Bounded, deadline-free, no example database in the repository; reproducible in CI."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=IN_CI,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )


@dataclass
class Fuzzing:
    daemon: Daemon
    client: FuzzClient
    generators: Generators
    block_before: int


@pytest.fixture(scope="module")
def fuzzing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzing]:
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))  # its caches stay out of the repo
    daemon = start_daemon(tmp_path_factory.mktemp("fuzz") / "data", "--evm-block-ms", "250")
    spec = load_spec()
    client = FuzzClient(daemon.url, spec, Stats())
    try:
        known = prepare_chain(client)
        block_before = int(client.call("eth_blockNumber"), 16)
        yield Fuzzing(daemon, client, Generators(spec, known), block_before)
        client.close()
        code = daemon.stop()
        assert code == 0, f"daemon exited with {code}\n{daemon.log()[-5000:]}"
    finally:
        client.close()
        daemon.kill()
        set_hypothesis_home_dir(None)


def explain(probe: Probe, problems: list[str]) -> str:
    return "\n".join([probe.reproducer(), *problems])


def test_every_http_answer_is_a_json_rpc_response_with_a_documented_code(fuzzing: Fuzzing) -> None:
    @fuzz_settings(HTTP_EXAMPLES)
    @given(probe=fuzzing.generators.http_probes())
    def answer_is_well_formed(probe: Probe) -> None:
        problems = fuzzing.client.send(probe)
        assert not problems, explain(probe, problems)

    answer_is_well_formed()


def test_every_websocket_answer_is_a_json_rpc_response_with_a_documented_code(fuzzing: Fuzzing) -> None:
    @fuzz_settings(WS_EXAMPLES)
    @given(probe=fuzzing.generators.ws_probes())
    def answer_is_well_formed(probe: Probe) -> None:
        problems = fuzzing.client.send_ws(probe)
        assert not problems, explain(probe, problems)

    try:
        answer_is_well_formed()
    finally:
        fuzzing.client.close_ws()


def test_fuzzed_subscriptions_are_answered_and_notify_well_formed_messages(fuzzing: Fuzzing) -> None:
    @fuzz_settings(SUBSCRIBE_EXAMPLES)
    @given(probe=fuzzing.generators.subscribe_probes())
    def answer_is_well_formed(probe: Probe) -> None:
        problems = fuzzing.client.send_ws(probe)
        assert not problems, explain(probe, problems)

    try:
        answer_is_well_formed()
    finally:
        fuzzing.client.close_ws()


def test_the_node_is_unharmed_after_the_fuzzing(fuzzing: Fuzzing) -> None:
    """Runs last in this module: what the fuzzing above must not have done to the node."""
    daemon, client = fuzzing.daemon, fuzzing.client
    problems = node_problems(client, daemon.log(), daemon.proc.poll() is None, fuzzing.block_before)
    assert not problems, "\n".join(problems) + "\n" + describe_failures(client.stats.failures)
