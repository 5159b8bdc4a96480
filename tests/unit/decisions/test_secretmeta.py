"""The Secret's labels and annotations: the template's, gatepass's own, and others' left alone."""

import json

from gatepass.contract import MANAGED_BY, SECRET_TEMPLATE_ANNOTATION, TOKEN_LABEL
from gatepass.decisions.secretmeta import desired
from gatepass.models.servicetoken import SecretTemplate

OURS = {**MANAGED_BY, TOKEN_LABEL: "tok"}


def test_a_new_secret_gets_the_template_and_our_labels() -> None:
    meta = desired(SecretTemplate(labels={"team": "a"}, annotations={"note": "x"}), "tok")
    assert meta.labels == {"team": "a", **OURS}
    assert meta.annotations["note"] == "x"
    assert json.loads(meta.annotations[SECRET_TEMPLATE_ANNOTATION]) == {
        "labels": ["team"],
        "annotations": ["note"],
    }


def test_no_template_no_record() -> None:
    assert desired(SecretTemplate(), "tok").annotations == {}


def test_our_labels_win_over_the_template() -> None:
    template = SecretTemplate(labels={TOKEN_LABEL: "someone-else", "app.kubernetes.io/managed-by": "me"})
    assert desired(template, "tok").labels == OURS


def test_keys_removed_from_the_template_leave_the_secret_and_others_keys_stay() -> None:
    before = desired(SecretTemplate(labels={"a": "1", "b": "2"}, annotations={"n": "x"}), "tok")
    on_secret_labels = {**before.labels, "policy-engine/scanned": "yes"}  # another tool's
    on_secret_notes = {**before.annotations, "backup.io/include": "true"}
    after = desired(SecretTemplate(labels={"b": "3"}), "tok", on_secret_labels, on_secret_notes)
    assert after.labels == {"b": "3", "policy-engine/scanned": "yes", **OURS}
    assert after.annotations["backup.io/include"] == "true"
    assert "n" not in after.annotations
    assert json.loads(after.annotations[SECRET_TEMPLATE_ANNOTATION]) == {"labels": ["b"], "annotations": []}
    emptied = desired(SecretTemplate(), "tok", after.labels, after.annotations)
    assert emptied.labels == {"policy-engine/scanned": "yes", **OURS}
    assert emptied.annotations == {"backup.io/include": "true"}


def test_an_unreadable_record_removes_nothing() -> None:
    labels = {"a": "1", **OURS}
    for record in ("not json", '{"labels": [1]}', "[]"):
        meta = desired(SecretTemplate(), "tok", labels, {SECRET_TEMPLATE_ANNOTATION: record})
        assert meta.labels == labels
        assert SECRET_TEMPLATE_ANNOTATION not in meta.annotations
