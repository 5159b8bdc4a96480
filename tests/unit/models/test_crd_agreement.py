"""crds/ is the single source of each CRD: the models must say the same."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from gatepass.cli import crd_texts
from gatepass.models.conditions import Condition
from gatepass.models.durations import parse
from gatepass.models.servicetoken import ServiceTokenSpec, ServiceTokenStatus

ROOT = Path(__file__).resolve().parents[3]


def schema(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "crds" / f"{name}.yaml").read_text())
    (version,) = doc["spec"]["versions"]
    return dict(version["schema"]["openAPIV3Schema"]["properties"])


def aliases(model: type[BaseModel]) -> set[str]:
    return {f.alias or n for n, f in model.model_fields.items()}


def test_servicetoken_spec_and_status_fields_match_the_crd() -> None:
    props = schema("servicetokens.gatepass.dev")
    assert set(props["spec"]["properties"]) == aliases(ServiceTokenSpec)
    assert set(props["status"]["properties"]) == aliases(ServiceTokenStatus)
    cond = props["status"]["properties"]["conditions"]["items"]
    assert set(cond["properties"]) == aliases(Condition)


def test_servicetoken_defaults_match_the_crd() -> None:
    spec = schema("servicetokens.gatepass.dev")["spec"]["properties"]
    model = ServiceTokenSpec()
    defaults = {field: prop["default"] for field, prop in spec.items() if "default" in prop}
    assert defaults == {"duration": "8760h", "enabled": True, "rotationGracePeriod": "24h", "rollout": "None"}
    for field, value in defaults.items():
        assert getattr(model, _snake(field)) == value


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def _duration_regex() -> re.Pattern[str]:
    rules = schema("servicetokens.gatepass.dev")["spec"]["properties"]["renewBefore"][
        "x-kubernetes-validations"
    ]
    (pattern,) = re.findall(r"matches\('(.+?)'\)", rules[0]["rule"])
    return re.compile(pattern.replace("\\\\", "\\"))


@given(st.from_regex(r"\A[0-9.]{0,4}(ns|us|µs|ms|s|m|h|d|x|)([0-9.]{0,3}(s|m|h|y))?\Z"))
def test_crd_duration_rule_and_parser_agree(text: str) -> None:
    crd_accepts = bool(_duration_regex().search(text))
    try:
        parse(text)
        parser_accepts = text != "0"  # "0" is only valid for rotationGracePeriod
    except ValueError:
        parser_accepts = False
    assert crd_accepts == parser_accepts, text


def test_packaged_crds_are_the_files_in_crds() -> None:
    files = sorted((ROOT / "crds").glob("*.yaml"))
    assert crd_texts() == [f.read_text() for f in files]
    assert files, "no CRDs"


@pytest.mark.parametrize("path", sorted((ROOT / "crds").glob("*.yaml")), ids=lambda p: p.name)
def test_crd_files_parse(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        assert doc["kind"] == "CustomResourceDefinition"


def test_accessapplication_fields_match_the_crd() -> None:
    from gatepass.models.accessapplication import (
        AccessApplicationSpec,
        AccessApplicationStatus,
        AnyServiceToken,
        LocalPolicyRef,
        Policy,
        PolicyRef,
        Rule,
        ServiceTokenRef,
    )

    props = schema("accessapplications.gatepass.dev")
    spec = props["spec"]
    assert set(spec["properties"]) == aliases(AccessApplicationSpec)
    assert set(props["status"]["properties"]) == aliases(AccessApplicationStatus)
    policy = spec["properties"]["policies"]["items"]
    assert set(policy["properties"]) == aliases(Policy) | aliases(PolicyRef)
    assert set(policy["properties"]["policyRef"]["properties"]) == aliases(LocalPolicyRef) | {"namespace"}
    rule = policy["properties"]["include"]["items"]
    assert set(rule["properties"]) == aliases(Rule)
    assert set(rule["properties"]["serviceToken"]["properties"]) == aliases(ServiceTokenRef)
    assert set(rule["properties"]["anyServiceToken"]["properties"]) == aliases(AnyServiceToken)
    # include, require and exclude share one rule schema (a YAML anchor)
    assert policy["properties"]["require"]["items"] == rule == policy["properties"]["exclude"]["items"]
    assert (
        spec["properties"]["sessionDuration"]["default"]
        == AccessApplicationSpec.model_fields["session_duration"].default
    )


def test_accesspolicy_spec_is_an_applications_inline_policy() -> None:
    """One policy schema: an AccessPolicy's spec is an entry of spec.policies without
    policyRef, with the same validations (the entry's guard for policyRef entries aside)."""
    entry = schema("accessapplications.gatepass.dev")["spec"]["properties"]["policies"]["items"]
    spec = schema("accesspolicies.gatepass.dev")["spec"]
    inline = {k: v for k, v in entry["properties"].items() if k != "policyRef"}
    assert spec["properties"] == inline
    assert spec["required"] == ["decision", "include"]
    rules = [r["message"] for r in spec["x-kubernetes-validations"]]
    assert rules == [r["message"] for r in entry["x-kubernetes-validations"][2:]]


def test_accesspolicy_model_reads_the_crd_fields() -> None:
    from gatepass.models.accesspolicy import AccessPolicy

    props = schema("accesspolicies.gatepass.dev")
    assert set(props) - {"apiVersion", "kind"} == set(aliases(AccessPolicy)) - {"apiVersion", "kind"}
