"""Hypothesis strategies for any value a CRD's OpenAPI schema lets the API server store.

Written for the keywords gatepass's CRDs use (type, properties, additionalProperties,
items, enum, format, pattern, min/max, x-kubernetes-*). CEL rules are not applied: an older
CRD, or one edited by hand, may lack them, so the code must survive what the schema alone
admits. Strings lean to the hostile: the extremes of RFC 3339 times, huge numbers, empty
and odd text. (hypothesis-jsonschema does not know formats' hostile corners or the
x-kubernetes keywords; this is small enough to keep here.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
INT64 = (-(2**63), 2**63 - 1)


def crd_schema(plural: str) -> dict[str, Any]:
    """The openAPIV3Schema of crds/<plural>.gatepass.dev.yaml."""
    crd = yaml.safe_load((ROOT / "crds" / f"{plural}.gatepass.dev.yaml").read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def rfc3339() -> st.SearchStrategy[str]:
    """RFC 3339 date-times the API server stores, weighted to the edges of years 1..9999
    and of the offsets (which move a time past either edge once in UTC)."""
    edges = ["0001-01-01", "1969-12-31", "1970-01-01", "8999-12-31", "9000-01-01", "9999-12-31"]
    day = st.one_of(st.sampled_from(edges), st.dates().map(lambda d: d.isoformat()))
    clock = st.sampled_from(["00:00:00", "12:00:00", "23:59:59"])
    fraction = st.sampled_from(["", ".5", ".123456", ".999999999"])
    offset = st.one_of(
        st.just("Z"),
        st.builds(
            lambda sign, h, m: f"{sign}{h:02d}:{m:02d}",
            st.sampled_from("+-"),
            st.sampled_from([0, 1, 5, 14, 23]),
            st.sampled_from([0, 30, 59]),
        ),
    )
    return st.builds(lambda d, c, f, o: f"{d}T{c}{f}{o}", day, clock, fraction, offset)


def _text(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if schema.get("format") == "date-time":
        return rfc3339()
    lo, hi = schema.get("minLength", 0), min(schema.get("maxLength", 80), 80)
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: lo <= len(s) <= hi)
    odd = st.sampled_from(["", " ", "0", "-1", "forever", "9" * 40, "\u017fettings", "a/../b", "%00"])
    return st.one_of(odd.filter(lambda s: lo <= len(s) <= hi), st.text(min_size=lo, max_size=hi))


def strategy(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Any value ``schema`` admits (to a bounded size)."""
    kind = schema.get("type")
    if kind == "object":
        props = {k: strategy(v, depth + 1) for k, v in (schema.get("properties") or {}).items()}
        required = {k: props.pop(k) for k in schema.get("required", []) if k in props}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not props:
            return st.dictionaries(st.text(min_size=1, max_size=20), strategy(extra, depth + 1), max_size=4)
        return st.fixed_dictionaries(required, optional=props)
    if kind == "array":
        item = strategy(schema.get("items") or {}, depth + 1)
        return st.lists(item, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 3), 3))
    if kind == "string":
        return _text(schema)
    if kind == "integer":
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        lo, hi = schema.get("minimum", INT64[0]), schema.get("maximum", INT64[1])
        return st.one_of(st.sampled_from(sorted({lo, hi, max(lo, min(hi, 0))})), st.integers(lo, hi))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    # x-kubernetes-preserve-unknown-fields or untyped: any JSON
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=5,
    )
