"""kopf keeps no diff base (operator/kopfstate.py): sound only while the operator has no
change handlers, which is checked here on the real registry."""

from __future__ import annotations

import kopf

from gatepass.operator.app import OperatorApp
from gatepass.operator.handlers import build_registry
from gatepass.operator.kopfstate import NoDiffBase
from gatepass.operator.settings import OperatorSettings
from tests.support.fakestores import fake_stores


def operator() -> OperatorApp:
    config = OperatorSettings(namespace="gatepass-system", standalone=True, metrics_port=0)
    return OperatorApp(config=config, stores=fake_stores(), leadership=None)


def test_the_operator_has_no_change_handlers_nor_daemons() -> None:
    """Were one added, kopf would need its diff base (and would add finalizers)."""
    registry = build_registry(operator(), manage_gateway=True)
    assert registry._changing.get_all_handlers() == []
    assert registry._spawning.get_all_handlers() == []
    assert len(registry._watching.get_all_handlers()) == 8  # every kind's on.event (HTTPRoutes too)


def test_kopf_copies_nothing_of_an_event_and_writes_no_annotation() -> None:
    settings = kopf.OperatorSettings()
    app = operator()
    app.configure(settings)
    app.watches.detach()
    storage = settings.persistence.diffbase_storage
    assert isinstance(storage, NoDiffBase)
    annotation = "kopf.zalando.org/last-handled-configuration"
    body = kopf.Body(
        {"metadata": {"name": "t", "annotations": {annotation: '{"spec": {}}'}}, "spec": {"x": "y" * 1000}}
    )
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    assert not patch
