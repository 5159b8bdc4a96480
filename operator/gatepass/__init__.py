"""gatepass: Cloudflare-Access-style service tokens for Kubernetes."""

# The one version source: pyproject reads it, `make bump NEW=x.y.z` writes it and the
# chart's version/appVersion, tests/packaging/test_versions.py fails when they disagree.
__version__ = "0.2.0"

# Where releases publish the image (tag = __version__ = the chart's appVersion).
IMAGE_REPOSITORY = "ghcr.io/gatepass/gatepass"
