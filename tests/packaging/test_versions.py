"""One version for the package, the chart and the image; one uv for make and the Dockerfile.
A release built from a tree where these disagree would publish a chart that names an image
no one pushed."""

from __future__ import annotations

import datetime
import importlib.metadata
import re
import shutil
import sys
from pathlib import Path

import pytest

import gatepass
from gatepass.operator.settings import OperatorSettings
from tests.support.cluster import ROOT

sys.path.insert(0, str(ROOT / "tools"))

import image
import release


def test_package_chart_image_and_changelog_agree() -> None:
    assert release.problems() == []
    chart = release.chart_versions()
    assert chart == {"version": gatepass.__version__, "appVersion": gatepass.__version__}
    # pyproject's version is dynamic: the installed metadata is __version__ itself.
    assert importlib.metadata.version("gatepass") == gatepass.__version__


def test_the_chart_and_the_operator_default_to_the_published_image() -> None:
    published = f"{gatepass.IMAGE_REPOSITORY}:{gatepass.__version__}"
    assert image.image_name() == published  # what `make image` tags and the chart names
    assert OperatorSettings.model_fields["gateway_image"].default == published  # the gateway it runs


def test_make_and_the_dockerfile_use_the_uv_pyproject_requires() -> None:
    wanted = image.uv_version()
    arg = re.search(r"^ARG UV_VERSION=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert arg is not None
    assert arg.group(1) == wanted
    assert "--locked" in (ROOT / "Makefile").read_text()  # a stale uv.lock fails, never re-resolves


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel in (release.INIT, release.CHART, release.CHANGELOG, release.VALUES, release.README):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    return tmp_path


def test_a_chart_left_behind_is_named(tree: Path) -> None:
    chart = tree / release.CHART
    chart.write_text(re.sub(r"^appVersion: .*$", 'appVersion: "9.9.9"', chart.read_text(), flags=re.M))
    (problem,) = release.problems(tree)
    assert "appVersion is '9.9.9'" in problem


def test_a_pinned_image_tag_or_another_repository_is_named(tree: Path) -> None:
    values = tree / release.VALUES
    text = values.read_text().replace('tag: ""', 'tag: "0.0.1"', 1)
    values.write_text(text.replace(gatepass.IMAGE_REPOSITORY, "docker.io/someone/gatepass", 1))
    found = " ".join(release.problems(tree))
    assert "image.tag must stay empty" in found
    assert "docker.io/someone/gatepass" in found


def test_install_instructions_left_at_another_version_are_named(tree: Path) -> None:
    readme = tree / release.README
    readme.write_text(readme.read_text().replace(f"--version {gatepass.__version__}", "--version 0.0.9", 1))
    (problem,) = release.problems(tree)
    assert "Install section names ['0.0.9'" in problem


def test_a_tag_must_name_the_version() -> None:
    assert release.problems(tag=f"v{gatepass.__version__}") == []
    (problem,) = release.problems(tag="v0.0.1")
    assert "v0.0.1" in problem


def test_bump_moves_everything_and_opens_a_dated_section(tree: Path) -> None:
    release.bump("7.8.9", tree, today=datetime.date(2031, 2, 3))
    assert release.package_version(tree) == "7.8.9"
    assert release.chart_versions(tree) == {"version": "7.8.9", "appVersion": "7.8.9"}
    assert release.changelog_sections(tree)[:2] == [("Unreleased", None), ("7.8.9", "2031-02-03")]
    install = (tree / release.README).read_text().split("\n## Install\n")[1].split("\n## ")[0]
    assert "--version 7.8.9" in install  # what a reader copies installs this version
    assert gatepass.__version__ not in install
    assert release.problems(tree) == []
    with pytest.raises(ValueError, match="semantic version"):
        release.bump("7.8", tree)


def test_a_version_without_its_changelog_section_is_named(tree: Path) -> None:
    init = tree / release.INIT
    init.write_text(init.read_text().replace(gatepass.__version__, "5.0.0"))
    chart = tree / release.CHART
    chart.write_text(chart.read_text().replace(gatepass.__version__, "5.0.0"))
    readme = tree / release.README
    readme.write_text(readme.read_text().replace(gatepass.__version__, "5.0.0"))
    (problem,) = release.problems(tree)
    assert "CHANGELOG.md: the newest section is" in problem


def test_release_notes_are_the_versions_section_only() -> None:
    notes = release.notes(gatepass.__version__)
    assert notes.startswith("### ")
    assert "## [" not in notes
    assert "[0.1.0]:" not in notes  # the link references at the end belong to no section
    with pytest.raises(ValueError, match="no section"):
        release.notes("0.0.0")


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("ghcr.io/gatepass/gatepass:0.2.0", "ghcr.io/gatepass/gatepass:0.2.0"),
        ("gatepass:0.1.0", "docker.io/library/gatepass:0.1.0"),
        ("someone/gatepass:1", "docker.io/someone/gatepass:1"),
        ("localhost:5000/gatepass:1", "localhost:5000/gatepass:1"),
    ],
)
def test_local_images_are_stored_under_the_name_containerd_resolves(name: str, stored: str) -> None:
    assert image.qualified(name) == stored
