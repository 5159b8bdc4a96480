from gatepass.operator.manifests import deployment, metrics_service, owned_by, service
from gatepass.operator.settings import OperatorSettings


def test_the_public_service_never_carries_the_admin_port() -> None:
    settings = OperatorSettings(namespace="gatepass-system", gateway_service_type="LoadBalancer")
    public = service(settings)
    assert public["spec"]["type"] == "LoadBalancer"
    assert [p["targetPort"] for p in public["spec"]["ports"]] == ["http"]
    admin = metrics_service(settings)
    assert admin["spec"]["type"] == "ClusterIP"  # whatever type the public one has
    assert [(p["name"], p["targetPort"]) for p in admin["spec"]["ports"]] == [("metrics", "admin")]
    assert admin["spec"]["selector"] == public["spec"]["selector"]
    assert admin["metadata"]["name"] == "gatepass-gateway-metrics"


def test_the_gateway_is_owned_by_the_operators_deployment_when_there_is_one() -> None:
    settings = OperatorSettings(namespace="gatepass-system")
    plain = deployment(settings)
    owned = owned_by(plain, "gp-operator", "1234-uid")
    assert owned["metadata"]["ownerReferences"] == [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gp-operator", "uid": "1234-uid"}
    ]
    assert "ownerReferences" not in plain["metadata"]  # the manifest itself is not changed
    assert owned["spec"] == plain["spec"]
    # Run outside a Deployment (tests, `gatepass operator` by hand): no owner, nothing removes it.
    assert owned_by(plain, "gp-operator", None) is plain
