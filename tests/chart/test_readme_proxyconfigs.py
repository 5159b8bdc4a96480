"""The proxy configurations the README shows are exactly the ones tested: each block
behind a ``<!-- proxyconfigs: NAME -->`` marker is what gatepass.proxyconfigs renders
for the README (nginx and Caddy run it in tests/e2e; Envoy's are not run here).
``python -m gatepass.proxyconfigs`` prints them, markers included."""

from __future__ import annotations

import re

import pytest
import yaml

from gatepass import proxyconfigs
from tests.support.cluster import ROOT

README = (ROOT / "README.md").read_text()
MARKED = re.compile(r"<!-- proxyconfigs: ([a-z-]+) -->\n```[a-z]*\n(.*?)```\n", re.S)


def test_every_proxy_configuration_the_readme_shows_is_the_tested_one() -> None:
    if "Behind your ingress" not in README:
        pytest.skip("the README's 'Behind your ingress' section is not written yet")
    shown = MARKED.findall(README)
    assert sorted(name for name, _ in shown) == sorted(proxyconfigs.readme())
    for name, block in shown:
        assert block == proxyconfigs.readme()[name], f"README's {name} block: python -m gatepass.proxyconfigs"


def test_the_readme_blocks_render_with_the_readme_markers() -> None:
    for name in proxyconfigs.readme():
        ((found, block),) = MARKED.findall(proxyconfigs.readme_markdown(name))
        assert (found, block) == (name, proxyconfigs.readme()[name])


def test_envoys_configurations_ask_the_endpoint_envoy_appends_to() -> None:
    """Not run here: at least they parse, and their prefix is the authorize endpoint."""
    policy, route = yaml.safe_load_all(proxyconfigs.readme()["envoy-gateway"])
    assert policy["spec"]["extAuth"]["http"]["path"] == proxyconfigs.AUTHORIZE
    assert policy["spec"]["targetRefs"][0]["name"] == route["metadata"]["name"]
    provider, authz, _ = yaml.safe_load_all(proxyconfigs.readme()["istio"])
    assert provider["extensionProviders"][0]["envoyExtAuthzHttp"]["pathPrefix"] == proxyconfigs.AUTHORIZE
    assert authz["spec"]["provider"]["name"] == provider["extensionProviders"][0]["name"]
    for sent in (
        policy["spec"]["extAuth"]["headersToExtAuth"],
        provider["extensionProviders"][0]["envoyExtAuthzHttp"]["includeRequestHeadersInCheck"],
    ):
        # never a header a client could use to move the check (gateway/forwarded.py)
        assert not {"x-forwarded-host", "x-forwarded-uri", "x-original-uri"} & set(sent)


def test_envoys_routes_remove_the_clients_secret_and_session_before_the_origin() -> None:
    """As nginx and Caddy do: the route's header removal (applied after ext_authz read
    them) takes the secret and the session header off the request to the origin."""
    _, route = yaml.safe_load_all(proxyconfigs.readme()["envoy-gateway"])
    *_, service = yaml.safe_load_all(proxyconfigs.readme()["istio"])
    (envoy_filter,) = route["spec"]["rules"][0]["filters"]
    assert envoy_filter["type"] == "RequestHeaderModifier"
    istio_removed = service["spec"]["http"][0]["headers"]["request"]["remove"]
    for removed in (envoy_filter["requestHeaderModifier"]["remove"], istio_removed):
        assert {"cf-access-client-secret", "cf-access-token"} <= {h.lower() for h in removed}
    assert route["spec"]["hostnames"] == service["spec"]["hosts"] == [proxyconfigs.EXAMPLE_HOST]
