"""Validate JSON-RPC results against Ethereum's execution-apis OpenRPC definitions.

The definitions (ethereum/execution-apis, CC0; see ``tests/fixtures/execution-apis/SOURCE.txt``)
are copied into the repository so that a fresh clone validates without network access.

They are assembled the way upstream's build script assembles ``openrpc.json``:

* every ``eth/*.yaml`` file is a list of OpenRPC method objects, concatenated into ``methods``;
* every top-level key of every ``schemas/*.yaml`` file becomes ``components.schemas.<key>``, so
  the ``$ref: '#/components/schemas/uint'`` references resolve inside the one document;
* every ``error-groups/*.yaml`` file is kept under ``components.error-groups`` (the methods refer
  to ``#/components/error-groups/...``); they play no part in validating results.

Validation uses JSON Schema 2020-12 (the schemas use only ``type``, ``pattern``, ``enum``,
``const``, ``required``, ``properties``, ``patternProperties``, ``additionalProperties``, ``items``,
``minimum``/``maximum``, ``not``, ``allOf``, ``anyOf`` and ``oneOf``, which mean the same in every
draft) with two deliberate departures from the Python defaults, both documented where defined:

* ``pattern`` is matched with ECMA-262 semantics for ``$``: Python's ``$`` also matches before a
  trailing newline, so ``re.search("^0x(0|[1-9a-f][0-9a-f]*)$", "0x1\\n")`` succeeds and a node
  answering ``"0x1\\n"`` would otherwise pass;
* ``oneOf`` accepts a value that more than one branch accepts (unless ``strict_one_of=True``):
  the spec's ``FilterResults`` is ``oneOf: [array of hashes, array of logs]``, so the perfectly
  correct empty answer ``[]`` from ``eth_getLogs`` / ``eth_getFilterChanges`` matches both
  branches and literal ``oneOf`` rejects it. A value accepted this way conforms to at least two
  of the shapes the spec lists, so no wrong shape gets through; a value that matches *no* branch
  fails exactly as before.
"""

from __future__ import annotations

import copy
import difflib
import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = ["DEFAULT_ROOT", "SPEC_URI", "OpenRpcSpec", "load_spec"]

DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "fixtures" / "execution-apis"
SPEC_URI = "urn:ethereum:execution-apis:openrpc"
_MAX_REPORTED = 10
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # same result, faster when built


# --------------------------------------------------------------------------- JSON Schema keywords


@functools.cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    """Compile ``pattern`` so that an unescaped ``$`` outside a character class means "end of
    string" (``\\Z``), as in ECMA-262 without the multiline flag, instead of Python's "end of string
    or before a final newline"."""
    out: list[str] = []
    in_class = escaped = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            out.append(r"\Z")
            continue
        out.append(ch)
    return re.compile("".join(out))


def _pattern(validator: Validator, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and _ecma_regex(pattern).search(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _one_of_allowing_overlap(
    validator: Validator, one_of: list[Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """``oneOf`` that passes when at least one branch passes (see the module docstring)."""
    context: list[ValidationError] = []
    for index, subschema in enumerate(one_of):
        errors = list(validator.descend(instance, subschema, schema_path=index))
        if not errors:
            return
        context.extend(errors)
    yield ValidationError(f"{instance!r} is not valid under any of the given schemas", context=context)


_StrictValidator: type[Validator] = extend(Draft202012Validator, validators={"pattern": _pattern})
_Validator: type[Validator] = extend(_StrictValidator, validators={"oneOf": _one_of_allowing_overlap})


# --------------------------------------------------------------------------- the spec


class OpenRpcSpec:
    """The assembled execution-apis OpenRPC document and validators for its method results."""

    def __init__(self, root: Path, document: dict[str, Any]) -> None:
        self.root = root
        self.document = document
        self._index = {method["name"]: i for i, method in enumerate(document["methods"])}
        self._registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, DRAFT202012.create_resource(document)
        )
        self._validators: dict[tuple[str, bool], Validator] = {}

    def __repr__(self) -> str:
        return f"OpenRpcSpec(root={str(self.root)!r}, methods={len(self._index)})"

    def methods(self) -> list[str]:
        """Every method name the spec defines, sorted."""
        return sorted(self._index)

    def method(self, method: str) -> dict[str, Any]:
        """A copy of the OpenRPC method object (name, params, result, errors, examples, ...)."""
        return copy.deepcopy(self.document["methods"][self._position(method)])

    def result_schema(self, method: str) -> dict[str, Any]:
        """A copy of the method's result schema as written in the spec (its ``$ref``s point into
        ``#/components/schemas``; resolve them with :attr:`document`)."""
        schema: dict[str, Any] = copy.deepcopy(self._result(method)["schema"])
        return schema

    def validator(self, method: str, *, strict_one_of: bool = False) -> Validator:
        """A jsonschema validator for the method's result, with the spec's refs resolvable."""
        key = (method, strict_one_of)
        if key not in self._validators:
            self._result(method)  # KeyError for an unknown method, ValueError if it has no result
            pointer = f"{SPEC_URI}#/methods/{self._position(method)}/result/schema"
            cls = _StrictValidator if strict_one_of else _Validator
            self._validators[key] = cls({"$ref": pointer}, registry=self._registry)
        return self._validators[key]

    def result_errors(self, method: str, result: object, *, strict_one_of: bool = False) -> list[str]:
        """Readable descriptions of why ``result`` does not conform (empty when it does)."""
        errors = self.validator(method, strict_one_of=strict_one_of).iter_errors(result)
        described: list[str] = []
        for leaf in (leaf for error in errors for leaf in _explain(error)):
            line = _describe(leaf)
            if line not in described:
                described.append(line)
        return described

    def validate_result(self, method: str, result: object, *, strict_one_of: bool = False) -> None:
        """Raise ``AssertionError`` naming the method, the JSON path and the problem when
        ``result`` does not conform to the method's result schema."""
        problems = self.result_errors(method, result, strict_one_of=strict_one_of)
        if not problems:
            return
        shown = problems[:_MAX_REPORTED]
        more = len(problems) - len(shown)
        lines = [f"{method} result does not conform to the execution-apis spec:"]
        lines += [f"  {line}" for line in shown]
        if more:
            lines.append(f"  ... and {more} more")
        lines.append(f"  result: {_abbreviate(result)}")
        raise AssertionError("\n".join(lines))

    def _position(self, method: str) -> int:
        try:
            return self._index[method]
        except KeyError:
            close = difflib.get_close_matches(method, self._index, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(
                f"{method!r} is not a method of the execution-apis spec at {self.root}"
                f" ({len(self._index)} methods){hint}"
            ) from None

    def _result(self, method: str) -> dict[str, Any]:
        spec = self.document["methods"][self._position(method)]
        result = spec.get("result")
        if not isinstance(result, dict) or "schema" not in result:
            raise ValueError(f"{method} has no result schema in the execution-apis spec")
        return result


def load_spec(root: Path = DEFAULT_ROOT) -> OpenRpcSpec:
    """The spec under ``root`` (``eth/``, ``schemas/``, ``error-groups/``), loaded once per root."""
    return _load(Path(root).resolve())


@functools.cache
def _load(root: Path) -> OpenRpcSpec:
    if not (root / "eth").is_dir() or not (root / "schemas").is_dir():
        raise FileNotFoundError(f"no execution-apis spec (eth/ and schemas/) under {root}")
    methods: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    for path in sorted((root / "eth").glob("*.yaml")):
        for method in _yaml(path, list):
            name = method["name"]
            if name in seen:
                raise ValueError(f"{name} is defined in both {seen[name]} and {path}")
            seen[name] = path
            methods.append(method)
    components: dict[str, dict[str, Any]] = {
        "schemas": _merge_keys(root / "schemas"),
        "error-groups": _merge_keys(root / "error-groups"),
    }
    document = {
        "openrpc": "1.2.4",
        "info": {"title": "Ethereum JSON-RPC Specification", "version": "0.0.0"},
        "methods": methods,
        "components": components,
    }
    return OpenRpcSpec(root, document)


def _merge_keys(directory: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    for path in sorted(directory.glob("*.yaml")):
        for key, value in _yaml(path, dict).items():
            if key in origin:
                raise ValueError(f"{key} is defined in both {origin[key]} and {path}")
            origin[key] = path
            merged[key] = value
    return merged


def _yaml(path: Path, kind: type[Any]) -> Any:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    if not isinstance(data, kind):
        raise ValueError(f"{path}: expected a YAML {kind.__name__}, got {type(data).__name__}")
    return data


# --------------------------------------------------------------------------- error reporting


def _explain(error: ValidationError) -> list[ValidationError]:
    """The innermost errors that explain ``error``.

    A failed ``oneOf``/``anyOf`` is explained by its most plausible branches only: the branches
    whose first JSON-type mismatch lies deepest in the value (``notFound`` rejects a block object
    at its root, ``Block`` only at ``$.number``; "array of hashes" rejects a hydrated transaction
    at the item, "full transactions" not at all), and of those the ones with the fewest problems
    (a type-0x2 transaction is reported against the EIP-1559 branch, not against all five)."""
    if not error.context:
        return [error]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    explained = [[leaf for e in branch for leaf in _explain(e)] for branch in branches.values()]
    base = len(error.path)

    def plausibility(leaves: list[ValidationError]) -> tuple[float, int]:
        type_depths = [len(leaf.path) - base for leaf in leaves if leaf.validator == "type"]
        return (min(type_depths, default=float("inf")), -len(leaves))

    best = max(plausibility(leaves) for leaves in explained)
    return [leaf for leaves in explained if plausibility(leaves) == best for leaf in leaves]


def _describe(error: ValidationError) -> str:
    title = error.schema.get("title") if isinstance(error.schema, dict) else None
    expected = f" (expected: {title})" if title else ""
    return f"at {error.json_path}: {_abbreviate(error.message, 200)}{expected}"


def _abbreviate(value: object, limit: int = 300) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
