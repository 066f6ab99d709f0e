"""Fuzzing the node's JSON-RPC endpoint: request generators, the invariants every answer must
satisfy, and a client that sends probes over HTTP and WebSocket and counts what came back.

Shared by ``tests/adversarial/test_fuzz_rpc.py`` (a bounded number of examples in CI) and
``bench/fuzz.py`` (10,000 and more), so both use one implementation.

**Generators** (hypothesis strategies of :class:`Probe`, a request body with its content type):

* *schema*: requests whose params are generated from the execution-apis OpenRPC schemas
  (``tests/support/openrpc.py`` loads them) with hypothesis-jsonschema, mixed with values this
  chain knows (its accounts, a deployed contract and its selectors, real transaction and block
  hashes, installed filter ids), so that handlers run past their parameter checks; MegaETH's and
  the node's own methods (``eth_callMany``, ``eth_callAfter`` with a short timeout,
  ``eth_getLogsWithCursor``, ``eth_getHeaderBy*``, send-and-wait, ``txpool_*``...) are described
  by schemas built from the same components;
* *mutations* of those: a param replaced by a wrong type or a hostile value (quantities of 2^256,
  of 81 and 200 hex digits, negative, with a newline; odd-length and multi-megabyte hex), params
  missing, extra, by name, or not a structure at all, random JSON values as params;
* *raw transactions* of random bytes, of typed-envelope prefixes, valid signed transactions
  (some of them included), and those with a flipped, missing or extra byte, oversized ones;
* *envelopes*: ids of every JSON type, including integers beyond 64 bits; a wrong or missing
  ``jsonrpc``; a method that is not a string; notifications;
* *batches*: mixed valid and invalid requests, notifications, duplicate ids, non-objects,
  empty, at and over the size limit;
* *bodies*: random bytes, invalid UTF-8, truncated or trailing-garbage JSON, JSON scalars, NaN
  and out-of-range numbers, nesting from 10 to 100,000 levels (orjson's limit is 1,024);
* *transport*: content types other than JSON (HTTP 415) and bodies over ``rpc.max_body_bytes``
  (HTTP 413).

**Invariants** (:func:`check_http`, :func:`check_ws`): the HTTP status is 200, or 413 for an
over-size body, or 415 for a wrong content type; the body is one JSON-RPC 2.0 response, an
array of them in request order for a non-empty batch, or empty when only notifications were
sent; every response echoes its request's id exactly (a 30-digit integer stays an integer),
or null where the request's id could not be read; it has exactly one of ``result`` or
``error``, and an error's code is one the node documents (``docs/rpc.md`` "Error codes"):
-32603 (a handler crashed) and any undocumented code are failures; a result of an
execution-apis method conforms to the spec's result schema.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir, storage_directory
from websockets.sync.client import ClientConnection, connect

from tests.support.accounts import DEV_KEYS
from tests.support.contracts import load_artifact
from tests.support.openrpc import OpenRpcSpec

CHAIN_ID = 1337
GWEI = 10**9
MAX_BODY = 5 * 1024 * 1024
"""The devnet's ``rpc.max_body_bytes``: a larger body answers HTTP 413."""
MAX_BATCH = 1000
"""The devnet's ``rpc.max_batch``."""
MAX_TX_SIZE = 128 * 1024
"""geth's txMaxSize, which the node applies to raw transactions."""
JSON_CONTENT_TYPES = ("application/json", "application/json-rpc", "application/jsonrequest")
ALLOWED_CODES = frozenset({-32700, -32600, -32601, -32602, -32000, -32001, -32005, 3, 4, 5})
"""The error codes ``docs/rpc.md`` documents, less -32603: an internal error is a crash."""
DOCUMENTED_DEVIATIONS = frozenset(
    {
        # docs/rpc.md "The open block is the pending block": its hash is null, as geth answers
        # for a pending block (the spec's Block requires a hash32)
        ("eth_getBlockByNumber", "at $.hash: None is not of type 'string' (expected: 32 byte hex value)"),
    }
)
"""Spec violations the node documents on purpose: (method, the validator's line)."""
ANSWER_TIMEOUT_S = 30.0
"""No request the generators make may take longer (the longest documented wait is 10 s)."""
SUBSCRIPTION_KINDS = ("newHeads", "logs", "newPendingTransactions", "miniBlocks", "stateChanges")
SCHEMAS = "#/components/schemas/"
T = TypeVar("T")

# --------------------------------------------------------------------------- probes


@dataclass(frozen=True)
class Probe:
    """One request body as sent, with the generator that made it."""

    label: str
    body: bytes
    methods: tuple[str, ...] = ()
    content_type: str | None = "application/json"

    def reproducer(self, limit: int = 600) -> str:
        """The probe in one line: its generator, content type and body (as Python bytes, cut
        at ``limit``), enough to send it again."""
        shown = self.body if len(self.body) <= limit else self.body[:limit] + b"..."
        size = f", {len(self.body):,} bytes" if len(self.body) > limit else ""
        return f"[{self.label}] POST Content-Type: {self.content_type}{size}, body {shown!r}"


def _dumps(value: Any, ascii_only: bool = True) -> bytes:
    """JSON text for a request (Python's encoder: integers of any size stay exact)."""
    return json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _methods_of(payload: Any) -> tuple[str, ...]:
    items = payload if isinstance(payload, list) else [payload]
    names = [item["method"] for item in items if isinstance(item, dict) and "method" in item]
    return tuple(name if isinstance(name, str) else "<not a string>" for name in names)


def probe_of(label: str, payload: Any, ascii_only: bool = True) -> Probe:
    """A probe whose body is ``payload`` as JSON."""
    return Probe(label, _dumps(payload, ascii_only), _methods_of(payload))


# --------------------------------------------------------------------------- expectations


@dataclass(frozen=True)
class Expected:
    """What the node must answer to one request object."""

    answered: bool
    ids: tuple[Any, ...]
    """The ids the response may carry (exactly: type and value)."""
    code: int | None = None
    """The error code the response must carry, if the request decides it."""
    alternative_codes: tuple[int, ...] = ()
    method: str | None = None


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def expected_for(request: Any) -> Expected:
    """JSON-RPC 2.0 for one decoded request object: an invalid request is answered (with its
    id when it has a readable one, else null); a well-formed notification is not."""
    if not isinstance(request, dict):
        return Expected(True, (None,), -32600)
    request_id = request.get("id")
    readable = (None, request_id) if _valid_id(request_id) else (None,)
    if request.get("jsonrpc") != "2.0" or not _valid_id(request_id):
        return Expected(True, readable, -32600)
    method = request.get("method")
    if not isinstance(method, str):
        return Expected(True, readable, -32600)
    if "params" in request and not isinstance(request["params"], list | dict):
        return Expected(True, readable, -32602, (-32600,))
    if "id" not in request:
        return Expected(False, (), method=method)
    return Expected(True, (request_id,), method=method)


def _exact_payload(body: bytes) -> Any:
    """The body as the node must understand it: orjson decides what parses (as the node does),
    Python's decoder gives integers of any size exactly."""
    payload = orjson.loads(body)
    with contextlib.suppress(RecursionError, ValueError):
        payload = json.loads(body)
    return payload


def _same_id(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _response_problems(
    response: Any, expected: Expected, spec: OpenRpcSpec | None, codes: Counter[str]
) -> list[str]:
    if not isinstance(response, dict):
        return [f"a response is not an object: {_short(response)}"]
    problems = []
    if response.get("jsonrpc") != "2.0":
        problems.append(f'"jsonrpc" is {_short(response.get("jsonrpc"))}, not "2.0"')
    if "id" not in response:
        problems.append("the response has no id")
    elif not any(_same_id(response["id"], want) for want in expected.ids):
        wanted = " or ".join(_short(i) for i in expected.ids)
        problems.append(f"id {_short(response['id'])} echoed for a request whose id is {wanted}")
    members = {"result", "error"} & response.keys()
    extra = response.keys() - {"jsonrpc", "id", "result", "error"}
    if len(members) != 1 or extra:
        problems.append(f"a response must have exactly one of result and error, got keys {sorted(response)}")
        return problems
    if "error" in response:
        error = response["error"]
        if not isinstance(error, dict) or not isinstance(error.get("code"), int):
            problems.append(f"malformed error object {_short(error)}")
            return problems
        code = error["code"]
        codes[str(code)] += 1
        if not isinstance(error.get("message"), str):
            problems.append(f"error {code} has no message string")
        if code == -32603:
            problems.append(f"internal error (a handler crashed): {_short(error)}")
        elif code not in ALLOWED_CODES:
            problems.append(f"undocumented error code {code}: {_short(error)}")
        elif expected.code is not None and code != expected.code and code not in expected.alternative_codes:
            problems.append(f"error code {code} where {expected.code} is due: {_short(error)}")
        return problems
    codes["result"] += 1
    if expected.code is not None:
        problems.append(f"a result where error {expected.code} is due: {_short(response['result'])}")
    elif spec is not None and expected.method is not None and expected.method in spec_methods(spec):
        method = expected.method
        deviations = [
            line
            for line in spec.result_errors(method, response["result"])
            if (method, line) not in DOCUMENTED_DEVIATIONS
        ]
        problems += [f"{method} result: {line}" for line in deviations[:3]]
    return problems


def spec_methods(spec: OpenRpcSpec) -> frozenset[str]:
    """The methods the execution-apis spec defines."""
    return frozenset(spec.methods())


def check_answer(
    body: bytes, answer: bytes, spec: OpenRpcSpec | None = None, codes: Counter[str] | None = None
) -> list[str]:
    """Everything wrong with ``answer`` as the JSON-RPC answer to ``body`` (empty: nothing)."""
    codes = codes if codes is not None else Counter()
    try:
        payload = _exact_payload(body)
    except orjson.JSONDecodeError:
        return _single(answer, Expected(True, (None,), -32700), spec, codes)
    if isinstance(payload, list):
        if not payload or len(payload) > MAX_BATCH:
            return _single(answer, Expected(True, (None,), -32600), spec, codes)
        expected = [e for e in (expected_for(item) for item in payload) if e.answered]
        if not expected:
            return [] if answer == b"" else [f"an answer to a batch of notifications: {_short(answer)}"]
        try:
            responses = json.loads(answer)
        except ValueError:
            return [f"the answer to a batch is not JSON: {_short(answer)}"]
        if not isinstance(responses, list):
            return [f"a batch answered with {_short(responses)}, not an array"]
        if len(responses) != len(expected):
            return [f"{len(responses)} responses to a batch with {len(expected)} answerable requests"]
        problems = []
        for index, (response, want) in enumerate(zip(responses, expected, strict=True)):
            problems += [f"batch item {index}: {p}" for p in _response_problems(response, want, spec, codes)]
        return problems
    expected_one = expected_for(payload)
    if not expected_one.answered:
        return [] if answer == b"" else [f"an answer to a notification: {_short(answer)}"]
    return _single(answer, expected_one, spec, codes)


def _single(answer: bytes, expected: Expected, spec: OpenRpcSpec | None, codes: Counter[str]) -> list[str]:
    try:
        response = json.loads(answer)
    except ValueError:
        return [f"the answer is not JSON: {_short(answer)}"]
    return _response_problems(response, expected, spec, codes)


def expected_status(probe: Probe) -> int:
    """The HTTP status due: 415 for a body that does not say it is JSON, 413 for one over the
    size limit, 200 otherwise."""
    mime = (probe.content_type or "application/octet-stream").split(";")[0].strip().lower()
    if mime not in JSON_CONTENT_TYPES:
        return 415
    if len(probe.body) > MAX_BODY:
        return 413
    return 200


def check_http(
    probe: Probe,
    status: int,
    answer: bytes,
    spec: OpenRpcSpec | None = None,
    codes: Counter[str] | None = None,
) -> list[str]:
    """Everything wrong with the HTTP answer to ``probe``."""
    due = expected_status(probe)
    if status != due:
        return [f"HTTP {status} where {due} is due: {_short(answer)}"]
    if due != 200:
        return _single(
            answer, Expected(True, (None,), -32600), spec, codes if codes is not None else Counter()
        )
    return check_answer(probe.body, answer, spec, codes)


def check_notification(message: Any) -> list[str]:
    """A subscription notification must be ``eth_subscription`` with a subscription id and a result."""
    params = message.get("params") if isinstance(message, dict) else None
    if (
        not isinstance(message, dict)
        or message.get("jsonrpc") != "2.0"
        or "id" in message
        or not isinstance(params, dict)
        or not isinstance(params.get("subscription"), str)
        or "result" not in params
    ):
        return [f"malformed subscription notification: {_short(message)}"]
    return []


def _short(value: Any, limit: int = 300) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- what the chain knows


@dataclass(frozen=True)
class Known:
    """Values of this chain the generators mix in, so that handlers get past their checks."""

    addresses: tuple[str, ...]
    contract: str
    selectors: tuple[str, ...]
    tx_hashes: tuple[str, ...]
    block_hashes: tuple[str, ...]
    filter_ids: tuple[str, ...]
    fuzz_accounts: int
    """How many :func:`fuzz_key` accounts are funded."""

    def by_schema(self) -> dict[str, list[Any]]:
        """Known values per execution-apis schema name."""
        return {
            "address": [*self.addresses, self.contract, "0x" + "00" * 20, "0x" + "00" * 19 + "01"],
            "hash32": [*self.tx_hashes, *self.block_hashes],
            "uint": [
                "0x0",
                "0x1",
                "0x2",
                "0x3",
                "0x5208",
                "0x3b9aca00",
                "0xde0b6b3a7640000",
                *self.filter_ids,
            ],
            "bytes": ["0x", *self.selectors],
        }


def reverter_calls() -> dict[str, str]:
    """Call data for each function of the test contract ``Reverter`` (arguments zero: ``divide``
    by zero panics), by name."""
    out = {}
    for item in load_artifact("Reverter")["abi"]:
        if item.get("type") == "function":
            signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            selector = function_signature_to_4byte_selector(signature).hex()
            out[item["name"]] = "0x" + selector + "00" * 32 * len(item["inputs"])
    return out


# --------------------------------------------------------------------------- schema strategies


@functools.cache
def _from_schema() -> Any:
    """hypothesis-jsonschema's ``from_schema``. Importing it makes Hypothesis write its unicode
    cache under its home directory (``./.hypothesis`` by default): a temporary one instead."""
    previous = storage_directory(intent_to_write=False).home_directory
    with tempfile.TemporaryDirectory(prefix="hypothesis-") as home:
        set_hypothesis_home_dir(home)
        try:
            from hypothesis_jsonschema import from_schema
        finally:
            set_hypothesis_home_dir(previous)
    return from_schema


def from_schema(schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """A hypothesis-jsonschema strategy for one (reference-free) JSON Schema."""
    strategy: st.SearchStrategy[Any] = _from_schema()(schema)
    return strategy


class SchemaStrategies:
    """Hypothesis strategies for execution-apis schemas.

    Objects, arrays and ``oneOf``/``anyOf``/``allOf`` are walked here (strategies built once and
    cached per schema name; hypothesis-jsonschema rebuilds object strategies at every draw,
    which costs ~0.2 s per transaction object); every other schema (strings with their
    patterns, enums, numbers, booleans) is drawn by hypothesis-jsonschema. Where ``known`` has
    values for a schema name, they are drawn as often as generated ones."""

    def __init__(self, components: Mapping[str, Any], known: Mapping[str, Sequence[Any]]) -> None:
        self._components = components
        self._known = known
        self._named: dict[str, st.SearchStrategy[Any]] = {}

    def named(self, name: str) -> st.SearchStrategy[Any]:
        """The strategy for ``#/components/schemas/NAME``."""
        if name not in self._named:
            self._named[name] = st.deferred(lambda: self._build_named(name))
        return self._named[name]

    def _build_named(self, name: str) -> st.SearchStrategy[Any]:
        generated = self.of(self._components[name])
        known = self._known.get(name)
        return st.one_of(st.sampled_from(list(known)), generated) if known else generated

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            schema = self._components[schema["$ref"].removeprefix(SCHEMAS)]
        return schema

    def of(self, schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
        """The strategy for one schema (its ``$ref``s into the components resolved)."""
        if "$ref" in schema:
            return self.named(schema["$ref"].removeprefix(SCHEMAS))
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return st.one_of([self.of(branch) for branch in schema[key]])
        if "allOf" in schema:
            merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
            for part in [schema, *schema["allOf"]]:
                part = self._resolve(part)
                merged["properties"].update(part.get("properties", {}))
                merged["required"] += part.get("required", [])
            return self.of(merged)
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            return self._object(schema)
        if kind == "array":
            items = schema.get("items")
            element = self.of(items) if isinstance(items, dict) else json_values()
            low = schema.get("minItems", 0)
            return st.lists(element, min_size=low, max_size=max(low, min(schema.get("maxItems", 3), 3)))
        if not schema or set(schema) <= {"title", "description"}:
            return json_values()
        return from_schema({k: v for k, v in schema.items() if k not in ("title", "description")})

    def _object(self, schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        if not properties and "patternProperties" in schema:
            branches = [
                st.dictionaries(
                    st.one_of(
                        st.sampled_from(list(self._known.get("address", ["0x" + "00" * 20]))),
                        st.from_regex(pattern, fullmatch=True),
                    ),
                    self.of(value),
                    max_size=2,
                )
                for pattern, value in schema["patternProperties"].items()
            ]
            return st.one_of(branches)
        if not properties:
            return st.dictionaries(st.text(max_size=8), json_values(), max_size=3)
        return st.fixed_dictionaries(
            {k: self.of(v) for k, v in properties.items() if k in required},
            optional={k: self.of(v) for k, v in properties.items() if k not in required},
        )


def ref(name: str) -> dict[str, str]:
    """A JSON Schema reference to an execution-apis component."""
    return {"$ref": SCHEMAS + name}


EXTRA_METHODS: dict[str, tuple[int, list[dict[str, Any]]]] = {
    # name: (required params, [param schemas]); the node's methods the execution-apis spec lacks
    "eth_callMany": (
        2,
        [
            {
                "type": "array",
                "maxItems": 3,
                "items": {
                    "type": "object",
                    "required": ["transactions"],
                    "properties": {
                        "transactions": {"type": "array", "maxItems": 3, "items": ref("GenericTransaction")},
                        "blockOverride": ref("BlockOverrides"),
                    },
                },
            },
            {
                "type": "object",
                "required": ["blockNumber"],
                "properties": {
                    "blockNumber": ref("BlockNumberOrTag"),
                    "transactionIndex": {"type": "integer", "minimum": -2, "maximum": 3},
                },
            },
            ref("StateOverrides"),
            {"type": "integer", "minimum": 0, "maximum": 1000},
        ],
    ),
    "eth_callAfter": (
        2,
        [
            ref("GenericTransaction"),
            {
                "type": "object",
                "required": ["account", "nonce", "timeout"],
                "properties": {
                    "account": ref("address"),
                    "nonce": ref("uint"),
                    "timeout": {"type": "integer", "minimum": 1, "maximum": 50},
                },
            },
            ref("StateOverrides"),
            ref("BlockOverrides"),
        ],
    ),
    "eth_getHeaderByNumber": (1, [ref("BlockNumberOrTag")]),
    "eth_getHeaderByHash": (1, [ref("hash32")]),
    "eth_getRawTransactionByHash": (1, [ref("hash32")]),
    "web3_sha3": (1, [ref("bytes")]),
    "web3_clientVersion": (0, []),
    "net_listening": (0, []),
    "net_peerCount": (0, []),
    "txpool_status": (0, []),
    "txpool_content": (0, []),
    "txpool_inspect": (0, []),
    "txpool_contentFrom": (1, [ref("address")]),
    "sequencer_status": (0, []),
}
RAW_TX_METHODS = ("eth_sendRawTransaction", "eth_sendRawTransactionSync", "realtime_sendRawTransaction")
UNSERVED = (
    # execution-apis methods the node does not serve (answered -32601): their params are not
    # generated from the schemas, the dispatcher never reads them
    "eth_baseFee",
    "eth_blobBaseFee",
    "eth_capabilities",
    "eth_coinbase",
    "eth_config",
    "eth_fillTransaction",
    "eth_getBlockAccessList",
    "eth_getProof",
    "eth_getStorageValues",
    "eth_sendTransaction",
    "eth_sign",
    "eth_signTransaction",
    "eth_simulateV1",
    # and methods that exist only elsewhere: WebSocket sessions, the admin port
    "eth_subscribe",
    "eth_unsubscribe",
    "admin_nodeInfo",
    "debug_getRawBlock",
    "rpc.discover",
)


# --------------------------------------------------------------------------- value strategies


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """Each strategy drawn in proportion to its weight (``st.one_of`` flattens nested ``one_of``
    branches, so its shares follow the branch counts instead)."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(min_value=0, max_value=len(pool) - 1).flatmap(lambda i: pool[i])


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Any JSON value (integers of any size, no NaN)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(2**300), max_value=2**300),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


HOSTILE_STRINGS = (
    "0x" + "f" * 64,  # 2^256 - 1
    hex(2**256),  # 65 digits
    "0x" + "0" * 79 + "1",  # 80 digits: the most the node reads
    "0x" + "1" * 81,
    "0x" + "f" * 200,
    "-0x1",
    "0x-1",
    "0X10",
    "0x",
    "",
    "0x0g",
    "0x1\n",
    "latest\n",
    " 0x1",
    "0x" + "00" * 19,
    "0x" + "00" * 33,
    "0x" + "0" * 41,
    "\x00",
    "\u202e\ud7ff",
    "\U0001f4a5" * 8,
    "Infinity",
    "NaN",
    "0x" + "ab" * 70_000,  # 140 KB of hex
)
HOSTILE_VALUES: tuple[Any, ...] = (
    2**256,
    2**64,
    -1,
    -(2**63) - 1,
    10**30,
    0,
    1.5,
    -0.0,
    1e308,
    True,
    False,
    None,
    [],
    {},
    [[[]]],
    {"": None},
)


def hostile_values() -> st.SearchStrategy[Any]:
    """Wrong types and huge or malformed numbers, for any param or field."""
    return st.one_of(
        st.sampled_from(HOSTILE_STRINGS),
        st.sampled_from(HOSTILE_VALUES),
        st.integers(min_value=-(2**260), max_value=2**260),
        st.text(max_size=30),
        json_values(),
    )


def request_ids() -> st.SearchStrategy[Any]:
    """Ids of every kind: integers beyond 64 bits, strings, null, fractions, and invalid ones."""
    return st.one_of(
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.sampled_from([123456789012345678901234567890, -(10**29) - 7, 2**64, 2**256, -(2**63) - 1, 0]),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.text(max_size=16),
        st.none(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([True, False, [], {}, [1], {"id": 1}]),  # not ids: answered with null
    )


def fuzz_key(index: int) -> str:
    """The private key of fuzzing account ``index`` (funded by :func:`prepare_chain`)."""
    return "0x" + keccak(b"megapy fuzz account %d" % index).hex()


def signed_transactions(known: Known) -> st.SearchStrategy[bytes]:
    """Transactions signed by the fuzzing accounts: mostly valid (a low nonce of one of many
    funded accounts, so that many are included), else refused by one rule or another."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        key = fuzz_key(draw(st.integers(min_value=0, max_value=known.fuzz_accounts - 1)))
        valid = draw(st.booleans()) or draw(st.booleans())
        kind = draw(st.sampled_from([2, 0, 1]))
        tx: dict[str, Any] = {
            "chainId": CHAIN_ID,
            "nonce": draw(st.integers(min_value=0, max_value=3)),
            "gas": 60_000,
            "value": draw(st.integers(min_value=0, max_value=10**6)),
        }
        price = 10 * GWEI
        if not valid:
            tx["chainId"] = draw(st.sampled_from([CHAIN_ID, 1]))
            tx["nonce"] = draw(st.integers(min_value=0, max_value=80))
            tx["gas"] = draw(st.sampled_from([21_000, 60_000, 300_000, 20_000, 1_000_000_001]))
            tx["value"] = draw(st.sampled_from([0, 1, 10**18, 10**30]))
            price = draw(st.sampled_from([10 * GWEI, GWEI, 1]))
        to = draw(st.sampled_from([*known.addresses, known.contract, None]))
        if to is not None:
            tx["to"] = to
        if to == known.contract:
            tx["data"] = draw(st.sampled_from(known.selectors))
        elif to is None:
            tx["data"] = "0x600160005500"  # init code: SSTORE(0, 1), returns nothing
            tx["gas"] = max(tx["gas"], 100_000)
        if kind == 2:
            tip = draw(st.sampled_from([0, 1, 20 * GWEI])) if not valid else 0
            tx.update(maxFeePerGas=price, maxPriorityFeePerGas=tip)
        else:
            tx["gasPrice"] = price
            if kind == 1:
                tx["accessList"] = []
        return bytes(Account.from_key(key).sign_transaction(tx).raw_transaction)

    return build()


def raw_transactions(known: Known) -> st.SearchStrategy[str]:
    """The raw-transaction param: valid transactions, broken ones, random bytes, malformed hex."""
    signed = signed_transactions(known)

    @st.composite
    def broken(draw: st.DrawFn) -> bytes:
        raw = bytearray(draw(signed))
        how = draw(st.sampled_from(["flip", "truncate", "append", "retype"]))
        at = draw(st.integers(min_value=0, max_value=len(raw) - 1))
        if how == "flip":
            raw[at] ^= draw(st.integers(min_value=1, max_value=255))
        elif how == "truncate":
            del raw[at:]
        elif how == "append":
            raw += draw(st.binary(min_size=1, max_size=8))
        else:
            raw[0] = draw(st.sampled_from([0x00, 0x03, 0x04, 0x05, 0x7E, 0x7F]))
        return bytes(raw)

    def hex_of(raw: st.SearchStrategy[bytes]) -> st.SearchStrategy[str]:
        return raw.map(lambda b: "0x" + b.hex())

    random_bytes = st.one_of(
        st.binary(max_size=200),
        st.tuples(
            st.sampled_from([0, 1, 2, 3, 4, 5, 0x7F, 0x80, 0xC0, 0xF8, 0xFF]), st.binary(max_size=120)
        ).map(lambda t: bytes([t[0]]) + t[1]),
    )
    malformed = st.one_of(
        hex_of(signed).map(lambda h: h[:-1]),  # odd length
        hex_of(signed).map(lambda h: h[2:]),  # no 0x
        hex_of(signed).map(lambda h: "0X" + h[2:].upper()),
        hex_of(signed).map(lambda h: h[:4] + " " + h[4:]),
        hostile_values(),
    )
    oversized = st.sampled_from(
        [
            "0x02" + "00" * MAX_TX_SIZE,  # one byte over the size limit
            "0x" + "ab" * (2 * 1024 * 1024),  # 4 MiB of hex: refused for its size, unread
        ]
    )
    return weighted(
        (8, hex_of(signed)),
        (2, hex_of(broken())),
        (2, hex_of(random_bytes)),
        (2, malformed),
        (1, oversized),
    )


# --------------------------------------------------------------------------- request strategies


@dataclass
class Generators:
    """The probe strategies over one spec and what the chain knows."""

    spec: OpenRpcSpec
    known: Known
    schemas: SchemaStrategies = field(init=False)

    def __post_init__(self) -> None:
        self.schemas = SchemaStrategies(self.spec.document["components"]["schemas"], self.known.by_schema())
        self._params: dict[str, st.SearchStrategy[list[Any]]] = {}
        self.methods = sorted(
            {m for m in self.spec.methods() if m not in UNSERVED}
            | set(EXTRA_METHODS)
            | set(RAW_TX_METHODS)
            | {"eth_getLogsWithCursor"}
        )

    # -- params
    def params(self, method: str) -> st.SearchStrategy[list[Any]]:
        """Valid-shaped positional params for ``method`` (optional ones sometimes left out)."""
        if method not in self._params:
            self._params[method] = self._build_params(method)
        return self._params[method]

    def _build_params(self, method: str) -> st.SearchStrategy[list[Any]]:
        if method in RAW_TX_METHODS:
            raw = raw_transactions(self.known)
            if method == "eth_sendRawTransaction":
                return st.tuples(raw).map(list)
            timeout = st.one_of(
                st.integers(min_value=-1, max_value=300), st.sampled_from(["0x64", "0x0", None])
            )
            return st.one_of(st.tuples(raw).map(list), st.tuples(raw, timeout).map(list))
        if method in UNSERVED:
            return st.lists(json_values(), max_size=3)
        if method == "eth_getLogsWithCursor":
            return self.cursor_params()
        if method in EXTRA_METHODS:
            required, schemas = EXTRA_METHODS[method]
        else:
            params = self.spec.method(method)["params"]
            schemas = [p["schema"] for p in params]
            required = sum(1 for p in params if p.get("required"))
        strategies = [self.schemas.of(s) for s in schemas]
        shapes = [st.tuples(*strategies[:n]).map(list) for n in range(required, len(strategies) + 1)]
        return st.one_of(shapes)

    def cursor_params(self) -> st.SearchStrategy[list[Any]]:
        """``eth_getLogsWithCursor(filter)``: the spec's filter, sometimes with a cursor."""
        cursor = st.one_of(st.from_regex(r"0x[0-9a-f]{32}", fullmatch=True), hostile_values())
        return st.tuples(self.schemas.named("Filter"), st.one_of(st.none(), cursor)).map(
            lambda t: [{**t[0], "cursor": t[1]} if isinstance(t[0], dict) and t[1] is not None else t[0]]
        )

    def method_and_params(self) -> st.SearchStrategy[tuple[str, list[Any]]]:
        """A method the node serves and valid-shaped params for it."""
        return st.sampled_from(self.methods).flatmap(lambda m: self.params(m).map(lambda p: (m, p)))

    # -- mutations
    def mutated_params(self) -> st.SearchStrategy[tuple[str, str, Any]]:
        """(mutation, method, params): valid-shaped params with one thing made wrong."""

        @st.composite
        def mutate(draw: st.DrawFn) -> tuple[str, str, Any]:
            method, valid = draw(self.method_and_params())
            params: Any = valid
            how = draw(
                st.sampled_from(["leaf", "leaf", "param", "extra", "missing", "by-name", "not-a-structure"])
            )
            if how == "leaf" and params:
                paths = list(_leaf_paths(params))
                path = draw(st.sampled_from(paths))
                params = _replace(params, path, draw(hostile_values()))
            elif how == "param" and params:
                index = draw(st.integers(min_value=0, max_value=len(params) - 1))
                params = [*params[:index], draw(json_values()), *params[index + 1 :]]
            elif how == "extra":
                params = [*params, *draw(st.lists(json_values(), min_size=1, max_size=3))]
            elif how == "missing":
                params = params[: draw(st.integers(min_value=0, max_value=max(0, len(params) - 1)))]
            elif how == "by-name":
                params = {f"p{i}": p for i, p in enumerate(params)}
            elif how == "not-a-structure":
                params = draw(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)))
            return how, method, _short_waits(method, params)

        return mutate()

    def envelope(self, method: Any, params: Any) -> st.SearchStrategy[dict[str, Any]]:
        """A request object around ``method`` and ``params``: usually well-formed, with an id of
        any kind; sometimes a notification, or with a wrong ``jsonrpc`` or method."""

        @st.composite
        def build(draw: st.DrawFn) -> dict[str, Any]:
            request: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
            shape = draw(
                st.sampled_from(
                    ["plain"] * 6 + ["notification", "no-params", "bad-version", "bad-method", "extra-key"]
                )
            )
            if shape != "notification":
                request["id"] = draw(request_ids())
            if shape == "no-params":
                del request["params"]
            elif shape == "bad-version":
                version = draw(st.sampled_from(["1.0", 2.0, 2, None, "2.0 ", "missing"]))
                if version == "missing":
                    del request["jsonrpc"]
                else:
                    request["jsonrpc"] = version
            elif shape == "bad-method":
                request["method"] = draw(
                    st.one_of(
                        st.sampled_from([None, 1, [], {}, "", "ETH_CHAINID", "eth_chainId ", "eth_"]),
                        st.text(max_size=20),
                    )
                )
            elif shape == "extra-key":
                request[draw(st.text(max_size=8))] = draw(json_values())
            return request

        return build()

    def request_objects(self) -> st.SearchStrategy[dict[str, Any]]:
        """Request objects from the schemas and their mutations."""
        valid = self.method_and_params().map(lambda mp: (mp[0], _short_waits(mp[0], mp[1])))
        mutated = self.mutated_params().map(lambda hmp: (hmp[1], hmp[2]))
        return st.one_of(valid, mutated).flatmap(lambda mp: self.envelope(mp[0], mp[1]))

    # -- probes
    def schema_probes(self) -> st.SearchStrategy[Probe]:
        """Well-formed requests whose params follow the spec's schemas."""
        return self.method_and_params().map(
            lambda mp: probe_of(
                "schema", {"jsonrpc": "2.0", "id": 1, "method": mp[0], "params": _short_waits(*mp)}
            )
        )

    def mutation_probes(self) -> st.SearchStrategy[Probe]:
        """Requests with a mutated param, in an envelope of any kind."""

        @st.composite
        def build(draw: st.DrawFn) -> Probe:
            how, method, params = draw(self.mutated_params())
            request = draw(self.envelope(method, params))
            return probe_of(f"mutation:{how}", request, draw(st.booleans()))

        return build()

    def raw_transaction_probes(self) -> st.SearchStrategy[Probe]:
        """Submissions of random, broken, valid and oversized raw transactions."""
        return st.tuples(st.sampled_from(RAW_TX_METHODS), raw_transactions(self.known), request_ids()).map(
            lambda t: probe_of(
                "raw-transaction",
                {
                    "jsonrpc": "2.0",
                    "id": t[2],
                    "method": t[0],
                    "params": [t[1]] + ([50] if t[0] != RAW_TX_METHODS[0] else []),
                },
            )
        )

    def random_params_probes(self) -> st.SearchStrategy[Probe]:
        """Any JSON value as params, for any method."""
        methods = st.sampled_from(self.methods + list(UNSERVED))
        return st.tuples(methods, json_values(), request_ids()).map(
            lambda t: probe_of(
                "random-params", {"jsonrpc": "2.0", "id": t[2], "method": t[0], "params": t[1]}
            )
        )

    def batch_probes(self) -> st.SearchStrategy[Probe]:
        """Batches: mixed requests, notifications, duplicate ids, non-objects, empty, at and over
        the limit."""

        @st.composite
        def mixed(draw: st.DrawFn) -> Probe:
            items = draw(
                st.lists(
                    st.one_of(self.request_objects(), self.request_objects(), json_values(4)), max_size=6
                )
            )
            duplicates: bool = draw(st.booleans())
            if items and duplicates:
                shared = draw(request_ids())
                for item in items:
                    if isinstance(item, dict) and "id" in item:
                        item["id"] = shared
            return probe_of("batch", items)

        def many(n: int) -> Probe:
            return probe_of(
                f"batch-{n}", [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(n)]
            )

        return st.one_of(
            mixed(),
            mixed(),
            mixed(),
            st.just(probe_of("batch-empty", [])),
            st.sampled_from([1, MAX_BATCH, MAX_BATCH + 1]).map(many),
        )

    def body_probes(self) -> st.SearchStrategy[Probe]:
        """Bodies that are not JSON-RPC: random bytes, invalid UTF-8, broken or odd JSON, depth."""
        good = b'{"jsonrpc":"2.0","id":7,"method":"eth_chainId","params":[]}'
        fixed = [
            b"",
            b" \n",
            b"null",
            b"1",
            b'"eth_chainId"',
            b"true",
            b"{}",
            b"[[]]",
            b"\xef\xbb\xbf" + good,
            good[:-1],
            good + b"garbage",
            good + b"\n" + good,
            b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId\xff\xfe"}',
            b'{"jsonrpc":"2.0","id":"\xc3\x28","method":"eth_chainId"}',
            b'{"jsonrpc":"2.0","id":"\\ud800","method":"eth_chainId"}',
            b'{"jsonrpc":"2.0","id":NaN,"method":"eth_chainId"}',
            b'{"jsonrpc":"2.0","id":1e400,"method":"eth_chainId"}',
            b'{"jsonrpc":"2.0","id":1' + b"0" * 400 + b',"method":"eth_chainId"}',
            b'{"jsonrpc":"2.0","id":1,"id":2,"method":"eth_chainId"}',
            b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x' + b"\x00" * 40 + b'"]}',
        ]
        depth = st.sampled_from([10, 100, 500, 1000, 1022, 1023, 1024, 1025, 2000, 10_000, 100_000])
        nested = st.tuples(depth, st.sampled_from(["body", "params", "id", "object"])).map(
            lambda t: _nested(*t)
        )
        return st.one_of(
            st.binary(max_size=64).map(lambda b: Probe("bytes", b)),
            st.sampled_from(fixed).map(lambda b: Probe("body", b)),
            st.tuples(st.sampled_from(fixed[8:13]), st.integers(min_value=0, max_value=60)).map(
                lambda t: Probe("truncated", t[0][: t[1]])
            ),
            nested,
        )

    def transport_probes(self) -> st.SearchStrategy[Probe]:
        """Content types other than JSON, and bodies at and over the size limit (HTTP only)."""
        good = b'{"jsonrpc":"2.0","id":3,"method":"eth_blockNumber","params":[]}'
        types = st.sampled_from(
            [
                "application/json",
                "application/json; charset=utf-8",
                "Application/JSON",
                "application/json-rpc",
                "application/jsonrequest",
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                "text/html",
                None,
            ]
        )
        wrong_type = types.map(lambda ct: Probe("content-type", good, ("eth_blockNumber",), ct))

        def sized(size: int) -> Probe:
            head = b'{"jsonrpc":"2.0","id":4,"method":"eth_sendRawTransaction","params":["0x'
            tail = b'"]}'
            digits = size - len(head) - len(tail)
            return Probe(
                f"body-size-{size}",
                head + b"ab" * (digits // 2) + b"a" * (digits % 2) + tail,
                (RAW_TX_METHODS[0],),
            )

        over = st.sampled_from([MAX_BODY, MAX_BODY + 1, 2 * MAX_BODY]).map(sized)
        return st.one_of(wrong_type, wrong_type, over)

    def http_probes(self) -> st.SearchStrategy[Probe]:
        """Everything the HTTP suite sends."""
        return weighted(
            (6, self.schema_probes()),
            (6, self.mutation_probes()),
            (3, self.raw_transaction_probes()),
            (1, self.random_params_probes()),
            (3, self.batch_probes()),
            (2, self.body_probes()),
            (1, self.transport_probes()),
        )

    def ws_probes(self) -> st.SearchStrategy[Probe]:
        """What the WebSocket suite sends: the same dispatcher, so a sample of the same requests."""
        return weighted(
            (3, self.schema_probes()),
            (3, self.mutation_probes()),
            (2, self.raw_transaction_probes()),
            (2, self.batch_probes()),
            (1, self.body_probes()),
        ).filter(lambda p: len(p.body) <= MAX_BODY)

    def subscribe_probes(self) -> st.SearchStrategy[Probe]:
        """``eth_subscribe`` with fuzzed kinds and params, and ``eth_unsubscribe``."""
        kind = st.one_of(
            st.sampled_from(SUBSCRIPTION_KINDS), st.sampled_from(SUBSCRIPTION_KINDS), hostile_values()
        )
        arg = st.one_of(
            self.schemas.named("Filter"),
            st.lists(self.schemas.named("address"), max_size=3),
            st.booleans(),
            st.fixed_dictionaries(
                {
                    "fromBlock": st.sampled_from(["pending", "latest", "0x0"]),
                    "toBlock": st.sampled_from(["pending", "latest"]),
                }
            ),
            hostile_values(),
        )
        subscribe = st.one_of(st.tuples(kind).map(list), st.tuples(kind, arg).map(list), json_values())
        unsubscribe = st.one_of(
            st.tuples(st.one_of(st.from_regex(r"0x[0-9a-f]{1,32}", fullmatch=True), hostile_values())).map(
                list
            ),
            json_values(),
        )
        return st.one_of(
            st.tuples(subscribe, request_ids()).map(
                lambda t: probe_of(
                    "subscribe", {"jsonrpc": "2.0", "id": t[1], "method": "eth_subscribe", "params": t[0]}
                )
            ),
            st.tuples(unsubscribe, request_ids()).map(
                lambda t: probe_of(
                    "unsubscribe", {"jsonrpc": "2.0", "id": t[1], "method": "eth_unsubscribe", "params": t[0]}
                )
            ),
        )


def _short_waits(method: str, params: Any) -> Any:
    """``eth_callAfter`` waits for its condition up to ``condition.timeout`` (3 s by default,
    60 s at most): keep the wait short whatever a mutation did, so one probe stays quick."""
    if (
        method == "eth_callAfter"
        and isinstance(params, list)
        and len(params) > 1
        and isinstance(params[1], dict)
    ):
        timeout = params[1].get("timeout")
        if timeout is None or (isinstance(timeout, int) and not isinstance(timeout, bool) and timeout > 50):
            params = [params[0], {**params[1], "timeout": 20}, *params[2:]]
    return params


def _leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, list) and value:
        return [path, *(p for i, v in enumerate(value) for p in _leaf_paths(v, (*path, i)))]
    if isinstance(value, dict) and value:
        return [path, *(p for k, v in value.items() for p in _leaf_paths(v, (*path, k)))]
    return [path]


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, list):
        return [_replace(v, rest, new) if i == head else v for i, v in enumerate(value)]
    return {k: _replace(v, rest, new) if k == head else v for k, v in value.items()}


def _nested(depth: int, where: str) -> Probe:
    """A body nesting ``depth`` arrays (or objects) at ``where``."""
    arrays = b"[" * depth + b"]" * depth
    if where == "body":
        body = arrays
    elif where == "params":
        body = b'{"jsonrpc":"2.0","id":5,"method":"eth_getBalance","params":[' + arrays + b',"latest"]}'
    elif where == "id":
        body = b'{"jsonrpc":"2.0","id":' + arrays + b',"method":"eth_chainId"}'
    else:
        body = (
            b'{"jsonrpc":"2.0","id":6,"method":"eth_call","params":['
            + b'{"a":' * depth
            + b"1"
            + b"}" * depth
            + b"]}"
        )
    return Probe(f"nesting-{where}", body, ())


# --------------------------------------------------------------------------- the client


@dataclass
class Stats:
    """What a fuzzing run sent and got back."""

    requests: Counter[str] = field(default_factory=Counter)
    probes: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[tuple[Probe, list[str]]] = field(default_factory=list)
    sent: int = 0

    def count(self, probe: Probe) -> None:
        """Count one probe and the requests in it."""
        self.sent += 1
        self.probes[probe.label.split(":")[0]] += 1
        for method in probe.methods or ("<not a request>",):
            self.requests[method] += 1


class FuzzClient:
    """Sends probes to one node over HTTP (keep-alive) and WebSocket, checks every answer."""

    def __init__(self, url: str, spec: OpenRpcSpec | None = None, stats: Stats | None = None) -> None:
        parsed = urllib.parse.urlparse(url)
        assert parsed.hostname is not None and parsed.port is not None
        self.host, self.port = parsed.hostname, parsed.port
        self.ws_url = url.replace("http://", "ws://")
        self.spec = spec
        self.stats = stats or Stats()
        self._http: http.client.HTTPConnection | None = None
        self._ws: ClientConnection | None = None
        self._sentinel = 0

    def close(self) -> None:
        """Close both connections."""
        if self._http is not None:
            self._http.close()
            self._http = None
        self.close_ws()

    def close_ws(self) -> None:
        """Close the WebSocket (its subscriptions end with it)."""
        if self._ws is not None:
            with contextlib.suppress(Exception):
                self._ws.close()
            self._ws = None

    # -- HTTP
    def post(self, body: bytes, content_type: str | None = "application/json") -> tuple[int, bytes]:
        """POST ``body``; a fresh connection when the node closed the previous one."""
        headers = {"Content-Type": content_type} if content_type is not None else {}
        for attempt in range(2):
            if self._http is None:
                self._http = http.client.HTTPConnection(self.host, self.port, timeout=ANSWER_TIMEOUT_S)
            conn = self._http
            try:
                conn.request("POST", "/", body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self._http = None
                return response.status, data
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
                conn.close()
                self._http = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def send(self, probe: Probe) -> list[str]:
        """Send ``probe`` over HTTP; the problems with its answer (recorded in the stats)."""
        self.stats.count(probe)
        started = time.monotonic()
        try:
            status, answer = self.post(probe.body, probe.content_type)
        except TimeoutError:
            problems = [f"no answer within {ANSWER_TIMEOUT_S:.0f} s"]
        except OSError as exc:
            problems = [f"the connection failed: {exc!r}"]
        else:
            self.stats.statuses[status] += 1
            problems = check_http(probe, status, answer, self.spec, self.stats.answers)
        if not problems and time.monotonic() - started > ANSWER_TIMEOUT_S:
            problems = [f"answered after {time.monotonic() - started:.1f} s"]
        return self._record(probe, problems)

    # -- WebSocket
    def ws(self) -> ClientConnection:
        """The WebSocket connection, opened on first use."""
        if self._ws is None:
            # no keepalive pings: their thread draws from the global ``random`` while hypothesis
            # generates, which it reports as a strategy using ``random``
            opening = connect(
                self.ws_url, max_size=None, open_timeout=ANSWER_TIMEOUT_S, close_timeout=2, ping_interval=None
            )
            self._ws = opening.__enter__()  # websockets wants the context manager's entry
        return self._ws

    def send_ws(self, probe: Probe) -> list[str]:
        """Send ``probe`` as one WebSocket message (text when it is UTF-8, else binary), then a
        sentinel request: the messages before the sentinel's answer must be the probe's answer
        (none for notifications) and subscription notifications."""
        self.stats.count(probe)
        self._sentinel += 1
        sentinel = f"sentinel-{self._sentinel}"
        ws = self.ws()
        try:
            text = probe.body.decode("utf-8")
        except UnicodeDecodeError:
            ws.send(probe.body)
        else:
            ws.send(text)
        ws.send(_dumps({"jsonrpc": "2.0", "id": sentinel, "method": "eth_chainId"}))
        answers: list[bytes] = []
        problems: list[str] = []
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        try:
            while True:
                message = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
                raw = message.encode() if isinstance(message, str) else message
                decoded = _loads_or_none(raw)
                if isinstance(decoded, dict) and decoded.get("method") == "eth_subscription":
                    problems += check_notification(decoded)
                    self.stats.answers["notification"] += 1
                    continue
                if isinstance(decoded, dict) and decoded.get("id") == sentinel:
                    break
                answers.append(raw)
        except TimeoutError:
            problems.append(f"no answer over WebSocket within {ANSWER_TIMEOUT_S:.0f} s")
        except Exception as exc:  # the connection closed: a failure, and a fresh one next time
            problems.append(f"the WebSocket failed: {exc!r}")
            self.close_ws()
        else:
            if len(answers) > 1:
                problems.append(f"{len(answers)} messages answer one WebSocket message")
            problems += check_answer(
                probe.body, answers[0] if answers else b"", self.spec, self.stats.answers
            )
        return self._record(probe, problems)

    def _record(self, probe: Probe, problems: list[str]) -> list[str]:
        if problems:
            self.stats.failures.append((probe, problems))
        return problems

    # -- plain calls
    def call(self, method: str, *params: Any) -> Any:
        """One well-formed call; its result (AssertionError on an error)."""
        status, answer = self.post(
            _dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        )
        response = json.loads(answer)
        if status != 200 or "error" in response:
            raise AssertionError(f"{method}{params!r}: HTTP {status} {_short(answer)}")
        return response["result"]


def _loads_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


# --------------------------------------------------------------------------- the chain under test


def raw_transfer(
    key: str, nonce: int, to: str | None = None, data: str = "0x", gas: int = 21_000, value: int | None = None
) -> str:
    """A signed EIP-1559 transaction, hex (1 wei when it carries no data)."""
    acct = Account.from_key(key)
    tx: dict[str, Any] = {
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "gas": gas,
        "maxFeePerGas": 10 * GWEI,
        "maxPriorityFeePerGas": 0,
        "value": value if value is not None else (1 if data == "0x" else 0),
        "data": data,
        "type": 2,
    }
    if to is not None:
        tx["to"] = to
    return "0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()


def prepare_chain(client: FuzzClient, fuzz_accounts: int = 100) -> Known:
    """Fund ``fuzz_accounts`` accounts for the generated transactions, deploy the test contract,
    send a transfer and a call that logs (from dev accounts the generators do not sign with),
    install a block filter and a log filter: the values the generators mix in."""
    funder = Account.from_key(DEV_KEYS[4])
    nonce = int(client.call("eth_getTransactionCount", funder.address, "pending"), 16)
    for start in range(0, fuzz_accounts, 500):
        batch = [
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "eth_sendRawTransaction",
                "params": [
                    raw_transfer(
                        DEV_KEYS[4], nonce + i, to=Account.from_key(fuzz_key(i)).address, value=10**18
                    )
                ],
            }
            for i in range(start, min(start + 500, fuzz_accounts))
        ]
        status, answer = client.post(_dumps(batch))
        assert status == 200 and all("result" in r for r in json.loads(answer)), _short(answer)
        wait_for_nonce(client, funder.address, nonce + start + len(batch))  # 500 pooled per sender
    deployer = Account.from_key(DEV_KEYS[1])
    artifact = load_artifact("Reverter")
    nonce = int(client.call("eth_getTransactionCount", deployer.address, "pending"), 16)
    deploy = client.call(
        "eth_sendRawTransactionSync",
        raw_transfer(DEV_KEYS[1], nonce, data=artifact["bytecode"], gas=3_000_000),
        5000,
    )
    contract = to_checksum_address(deploy["contractAddress"])
    sender = Account.from_key(DEV_KEYS[2])
    nonce = int(client.call("eth_getTransactionCount", sender.address, "pending"), 16)
    transfer = client.call(
        "eth_sendRawTransactionSync", raw_transfer(DEV_KEYS[2], nonce, to=deployer.address), 5000
    )
    calls = reverter_calls()
    nonce = int(client.call("eth_getTransactionCount", deployer.address, "pending"), 16)
    logged = client.call(
        "eth_sendRawTransactionSync",
        raw_transfer(DEV_KEYS[1], nonce, to=contract, data=calls["increment"], gas=100_000),
        5000,
    )
    genesis = client.call("eth_getBlockByNumber", "0x0", False)
    filters = (client.call("eth_newBlockFilter"), client.call("eth_newFilter", {"address": contract}))
    return Known(
        addresses=tuple(Account.from_key(k).address for k in DEV_KEYS),
        contract=contract,
        selectors=tuple(calls.values()),
        tx_hashes=(deploy["transactionHash"], transfer["transactionHash"], logged["transactionHash"]),
        block_hashes=(genesis["hash"],),
        filter_ids=filters,
        fuzz_accounts=fuzz_accounts,
    )


def wait_for_nonce(client: FuzzClient, address: str, nonce: int, timeout: float = 30.0) -> None:
    """Until ``address``'s transactions up to ``nonce`` are included."""
    deadline = time.monotonic() + timeout
    while int(client.call("eth_getTransactionCount", address, "latest"), 16) < nonce:
        assert time.monotonic() < deadline, f"{address}'s transactions were not included in {timeout} s"
        time.sleep(0.05)


def production(client: FuzzClient) -> tuple[int, int]:
    """(mini-blocks sealed, transactions included) so far (``sequencer_status``)."""
    status = client.call("sequencer_status")
    return int(status["miniBlocks"]), int(status["includedTxs"])


def node_problems(client: FuzzClient, log_text: str, alive: bool, block_before: int) -> list[str]:
    """After a run: the log holds no traceback and no error line, the process lives, blocks are
    still sealed, and a transfer sent now gets its receipt."""
    problems = []
    tracebacks = log_text.count("Traceback")
    if tracebacks:
        problems.append(f"{tracebacks} tracebacks in the daemon's log")
    errors = [line for line in log_text.splitlines() if "level=error" in line]
    if errors:
        problems.append(f"{len(errors)} level=error lines in the daemon's log, the first: {errors[0][:300]}")
    if not alive:
        problems.append("the daemon exited")
        return problems
    deadline = time.monotonic() + 10
    number = int(client.call("eth_blockNumber"), 16)
    while number <= block_before and time.monotonic() < deadline:
        time.sleep(0.1)
        number = int(client.call("eth_blockNumber"), 16)
    if number <= block_before:
        problems.append(f"eth_blockNumber stayed at {number}")
    sender = Account.from_key(DEV_KEYS[3])
    nonce = int(client.call("eth_getTransactionCount", sender.address, "pending"), 16)
    receipt = client.call(
        "eth_sendRawTransactionSync", raw_transfer(DEV_KEYS[3], nonce, to=sender.address), 5000
    )
    if receipt.get("status") != "0x1":
        problems.append(f"a transfer after the run: {receipt!r}")
    return problems


def describe_failures(failures: Sequence[tuple[Probe, list[str]]], first: int = 5) -> str:
    """The first few failures with their reproducers."""
    lines = []
    for probe, problems in failures[:first]:
        lines.append(probe.reproducer())
        lines += [f"    {p}" for p in problems[:5]]
    if len(failures) > first:
        lines.append(f"... and {len(failures) - first} more")
    return "\n".join(lines)
