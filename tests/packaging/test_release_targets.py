"""The make targets the workflows run. The workflows themselves need GitHub's runners
(Docker, a registry, an OIDC identity for cosign): here, actionlint checks them (`make lint`),
these tests run the targets that can run, and read the commands of those that cannot."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

import gatepass
from tests.support.cluster import ROOT, localcluster

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
FORK = "ghcr.io/some-fork/gatepass"


def make(*args: str) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", "-s", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def run_steps() -> list[str]:
    steps = []
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            steps += [step["run"] for step in job["steps"] if "run" in step]
    return steps


def test_the_workflows_run_make_targets_that_exist() -> None:
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "release.yml"}
    targets = set(re.findall(r"\bmake (?:--silent )?([a-z][a-z0-9-]*)", "\n".join(run_steps())))
    assert {"test", "kind-e2e", "version-check", "image-publish", "image-sign", "chart-push"} <= targets
    for target in targets:
        make("-n", target, "IMAGE_REPOSITORY=" + FORK)  # fails on a target that does not exist


def test_the_released_chart_names_the_image_pushed_beside_it(tmp_path: Path) -> None:
    make("chart-package", f"DIST={tmp_path}", f"IMAGE_REPOSITORY={FORK}")
    packaged = tmp_path / f"gatepass-{gatepass.__version__}.tgz"
    rendered = subprocess.run(
        [
            str(localcluster.build() / "helm"),
            "template",
            "gp",
            str(packaged),
            "--set",
            "gateway.issuer=https://access.example.com",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    images = {d["spec"]["template"]["spec"]["containers"][0]["image"]
              for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment"}  # fmt: skip
    assert images == {f"{FORK}:{gatepass.__version__}"}
    # ...and it is pushed next to that image, as an OCI artifact.
    push = make("-n", "chart-push", f"DIST={tmp_path}", f"IMAGE_REPOSITORY={FORK}")
    assert f"push {packaged} oci://ghcr.io/some-fork/charts" in push


def test_the_published_image_is_multi_arch_with_sbom_and_signed_by_digest() -> None:
    publish = make("-n", "image-publish", f"IMAGE_REPOSITORY={FORK}")
    assert "docker buildx build --platform linux/amd64,linux/arm64" in publish
    assert f"--tag {FORK}:{gatepass.__version__}" in publish
    assert "--sbom=true" in publish
    assert "--push" in publish
    sign = make("-n", "image-sign", f"IMAGE_REPOSITORY={FORK}")
    assert f"cosign sign --yes {FORK}@" in sign  # a digest, never a tag that can move


def test_kind_runs_the_suite_with_the_image_the_chart_names() -> None:
    commands = make("-n", "kind-e2e")
    image = f"{gatepass.IMAGE_REPOSITORY}:{gatepass.__version__}"
    assert f"docker build --tag {image} ." in commands
    assert f"GATEPASS_TEST_CLUSTER=kind GATEPASS_TEST_IMAGE={image}" in commands


def test_release_notes_are_the_changelog_section() -> None:
    notes = make("release-notes")
    assert notes.startswith("### ")
    assert f"## [{gatepass.__version__}]" in (ROOT / "CHANGELOG.md").read_text()


@pytest.mark.parametrize("tag", ["v0.0.0", gatepass.__version__ + "-rc1"])
def test_a_tag_for_another_version_stops_the_release(tag: str) -> None:
    done = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "version-check", f"TAG={tag}"], capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "does not name version" in done.stderr
