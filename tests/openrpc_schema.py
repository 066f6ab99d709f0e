"""Validate JSON-RPC results against Ethereum's execution-apis OpenRPC definitions.

The definitions (CC0, ethereum/execution-apis; see tests/fixtures/openrpc/SOURCE.txt) are
copied into the repository so a fresh clone validates without network access. Methods are
lists in ``eth/*.yaml``; every schema file's top-level keys become ``#/components/schemas/``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_DIR = Path(__file__).resolve().parent / "fixtures" / "openrpc"


@cache
def _document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for path in sorted((SPEC_DIR / "schemas").glob("*.yaml")):
        schemas.update(yaml.safe_load(path.read_text()))
    methods: dict[str, Any] = {}
    for path in sorted((SPEC_DIR / "eth").glob("*.yaml")):
        for method in yaml.safe_load(path.read_text()):
            methods[method["name"]] = method
    return {"components": {"schemas": schemas}, "methods": methods}


@cache
def _registry() -> Registry[Any]:
    root = {"components": _document()["components"]}
    return Registry().with_resource(
        "urn:openrpc", Resource.from_contents(root, default_specification=DRAFT202012)
    )


def methods() -> list[str]:
    return sorted(_document()["methods"])


def validate_result(method: str, result: Any) -> None:
    """Raise AssertionError naming the method, the JSON path and the problem."""
    spec = _document()["methods"].get(method)
    if spec is None:
        raise KeyError(f"{method} is not in the execution-apis spec")
    schema = _rewrite_refs(spec["result"]["schema"])
    validator = Draft202012Validator(schema, registry=_registry())
    errors = [e for e in validator.iter_errors(result) if not _empty_array_quirk(e)]
    if errors:
        leaves = [leaf for e in errors for leaf in _leaves(e)]
        details = "; ".join(
            f"at {'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message[:160]}"
            for e in leaves[:8]
        )
        raise AssertionError(f"{method} result does not match the spec: {details}")


def _empty_array_quirk(error: ValidationError) -> bool:
    """The spec's ``oneOf: [array of logs, array of hashes]`` rejects ``[]`` (valid under both);
    an empty list is a correct answer there, so that one failure is not counted."""
    return error.validator == "oneOf" and error.instance == [] and "is valid under each of" in error.message


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The innermost errors (a oneOf failure is explained by its branches' errors)."""
    if not error.context:
        return [error]
    return [leaf for sub in error.context for leaf in _leaves(sub)]


def _rewrite_refs(node: Any) -> Any:
    """Point ``#/components/...`` refs at the registered spec document."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                out[key] = "urn:openrpc" + value
            else:
                out[key] = _rewrite_refs(value)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node
