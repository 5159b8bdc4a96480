from gatepass.operator.manifests import metrics_service, service
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
