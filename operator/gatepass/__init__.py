"""gatepass: Cloudflare-Access-style service tokens for Kubernetes."""

__version__ = "0.1.0"
