"""Versions and release notes: what `make version-check`, `make bump` and the release
workflow run. Standard library only.

    python tools/release.py check [TAG]     # every version agrees (and with vTAG, if given)
    python tools/release.py bump X.Y.Z      # set them all; open its CHANGELOG section
    python tools/release.py notes X.Y.Z     # the CHANGELOG section of X.Y.Z (release body)

The one source is ``gatepass.__version__`` (pyproject reads it). The chart's ``version``
and ``appVersion`` must be literals for helm, so ``bump`` writes them and ``check`` fails
when they differ; the image tag is the appVersion (the chart's default). CHANGELOG.md
follows Keep a Changelog: the version has a section, dated, above the older ones.
"""

from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")
INIT = Path("operator/gatepass/__init__.py")
CHART = Path("charts/gatepass/Chart.yaml")
CHANGELOG = Path("CHANGELOG.md")
VALUES = Path("charts/gatepass/values.yaml")
README = Path("README.md")
# X.Y.Z alone or in vX.Y.Z (a tag), not inside a longer name or number.
_ANY_VERSION = re.compile(r"(?:(?<=\bv)|(?<![\w.]))\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?(?!\w)")
_INIT_LINE = re.compile(r'^__version__ = "([^"]+)"$', re.M)
_CHART_LINE = re.compile(r'^(version|appVersion): "?([^"\n]+)"?$', re.M)
_REPOSITORY = re.compile(r'^IMAGE_REPOSITORY = "([^"]+)"$', re.M)
_VALUES_IMAGE = re.compile(r"^image:\n  repository: (\S+).*\n  tag: (\S+)", re.M)
_SECTION = re.compile(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", re.M)


def package_version(root: Path = ROOT) -> str:
    m = _INIT_LINE.search((root / INIT).read_text())
    if m is None:
        raise ValueError(f"{INIT} has no __version__ line")
    return m.group(1)


def chart_versions(root: Path = ROOT) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _CHART_LINE.finditer((root / CHART).read_text())}


def changelog_sections(root: Path = ROOT) -> list[tuple[str, str | None]]:
    """(version, date) of each `## [...]` heading, top to bottom."""
    return [(m.group(1), m.group(2)) for m in _SECTION.finditer((root / CHANGELOG).read_text())]


def install_section(text: str) -> tuple[int, int]:
    """Where the README's "## Install" section is: its commands name the version to install."""
    start = text.index("\n## Install\n")
    return start, text.index("\n## ", start + 1)


def problems(root: Path = ROOT, tag: str | None = None) -> list[str]:
    """Every way the versions disagree; empty when a release of them would be consistent."""
    version = package_version(root)
    found = [] if SEMVER.match(version) else [f"{INIT}: {version!r} is not a semantic version"]
    chart = chart_versions(root)
    for key in ("version", "appVersion"):
        if chart.get(key) != version:
            found.append(f"{CHART}: {key} is {chart.get(key)!r}, the package is {version!r}")
    found += _image_problems(root) + _changelog_problems(root, version)
    readme = (root / README).read_text()
    start, end = install_section(readme)
    named = set(_ANY_VERSION.findall(readme[start:end]))
    if named != {version}:
        found.append(f"{README}: the Install section names {sorted(named)}, the package is {version!r}")
    if tag is not None and tag.removeprefix("v") != version:
        found.append(f"tag {tag!r} does not name version {version!r} (expected v{version})")
    return found


def _image_problems(root: Path) -> list[str]:
    """The chart's default image is the published one, tagged by the appVersion."""
    image = _VALUES_IMAGE.search((root / VALUES).read_text())
    repository = _REPOSITORY.search((root / INIT).read_text())
    if image is None or repository is None:
        return [f"{VALUES} image.repository/tag or {INIT} IMAGE_REPOSITORY not found"]
    found = []
    if image.group(1) != repository.group(1):
        found.append(f"{VALUES}: image.repository {image.group(1)!r}, the package's {repository.group(1)!r}")
    if image.group(2).strip("\"'"):
        found.append(f"{VALUES}: image.tag must stay empty (the appVersion), not {image.group(2)}")
    return found


def _changelog_problems(root: Path, version: str) -> list[str]:
    released = [(v, d) for v, d in changelog_sections(root) if v != "Unreleased"]
    if not released or released[0][0] != version:
        top = released[0][0] if released else None
        return [f"{CHANGELOG}: the newest section is {top!r}, the package is {version!r}"]
    if released[0][1] is None:
        return [f"{CHANGELOG}: the section of {version} has no date (## [{version}] - YYYY-MM-DD)"]
    return []


def notes(version: str, root: Path = ROOT) -> str:
    """The body of the version's CHANGELOG section."""
    text = (root / CHANGELOG).read_text()
    heads = list(_SECTION.finditer(text))
    for i, m in enumerate(heads):
        if m.group(1) == version:
            end = heads[i + 1].start() if i + 1 < len(heads) else text.find("\n[", m.end())
            return text[m.end() : end if end >= 0 else len(text)].strip() + "\n"
    raise ValueError(f"{CHANGELOG} has no section for {version}")


def bump(version: str, root: Path = ROOT, today: datetime.date | None = None) -> None:
    """Set every version to `version`; the Unreleased section becomes its section."""
    if not SEMVER.match(version):
        raise ValueError(f"{version!r} is not a semantic version (X.Y.Z)")
    init = root / INIT
    init.write_text(_INIT_LINE.sub(f'__version__ = "{version}"', init.read_text()))
    chart = root / CHART
    text = re.sub(r"^version: .*$", f"version: {version}", chart.read_text(), flags=re.M)
    chart.write_text(re.sub(r"^appVersion: .*$", f'appVersion: "{version}"', text, flags=re.M))
    readme = root / README
    text = readme.read_text()
    start, end = install_section(text)
    section = _ANY_VERSION.sub(lambda m: version if SEMVER.match(m.group(0)) else m.group(0), text[start:end])
    readme.write_text(text[:start] + section + text[end:])
    log = root / CHANGELOG
    date = (today or datetime.datetime.now(datetime.UTC).date()).isoformat()
    text = log.read_text()
    if f"## [{version}]" not in text:
        text = text.replace("## [Unreleased]\n", f"## [Unreleased]\n\n## [{version}] - {date}\n", 1)
        log.write_text(text)


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"] and len(argv) <= 2:
        found = problems(tag=argv[1] if len(argv) == 2 else None)
        for p in found:
            print(f"version mismatch: {p}", file=sys.stderr)
        if not found:
            print(package_version())
        return 1 if found else 0
    if argv[:1] == ["bump"] and len(argv) == 2:
        bump(argv[1])
        print(f"now {argv[1]}: fill in its CHANGELOG section, commit, then tag v{argv[1]}")
        return 0
    if argv[:1] == ["notes"] and len(argv) == 2:
        print(notes(argv[1]), end="")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
