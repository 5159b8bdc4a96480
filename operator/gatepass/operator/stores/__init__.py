"""The operator's doors to the Kubernetes API, one store per resource (kopf does the
watching): the Protocols the reconcilers depend on (protocols.py), the stores that talk
to the API server (one module each), and :func:`kube_stores`, which builds them."""
