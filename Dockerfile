# One image for `gatepass operator` and `gatepass gateway`.
# BASE_IMAGE: any Debian-based image with python3 (3.11+) and its venv module.
# Users get the official Python image; `make image` passes a locally made
# bookworm base (no registry is reachable where it runs) and PIP_OPTS for an
# offline install from wheels made beforehand.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# Build stage: wheels of exactly the versions uv.lock pins (hash-checked), and of
# gatepass itself. UV_VERSION = pyproject's [tool.uv] required-version (a test
# keeps them equal); uv only exports the lock, pip does the rest.
FROM ${BASE_IMAGE} AS build
ARG PIP_OPTS=""
ARG UV_VERSION=0.13.8
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
COPY crds ./crds
COPY operator ./operator
# hadolint ignore=SC2086
RUN python3 -m venv /build \
    && /build/bin/pip install --no-cache-dir --disable-pip-version-check $PIP_OPTS "uv==${UV_VERSION}" \
    && /build/bin/uv export --frozen --no-dev --no-emit-project --format requirements-txt \
       --output-file /requirements.txt --quiet \
    && /build/bin/pip wheel --no-cache-dir --disable-pip-version-check $PIP_OPTS --require-hashes \
       --wheel-dir /wheels -r /requirements.txt \
    && /build/bin/pip wheel --no-cache-dir --disable-pip-version-check $PIP_OPTS --no-deps --wheel-dir /wheels .

# Final stage: the wheels installed into a virtualenv (PEP 668: never into the
# system Python; --no-index: only the locked versions are there to choose), no
# compilers or build tools, non-root.
FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/gatepass/bin:$PATH
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin gatepass
COPY --from=build /wheels /wheels
RUN python3 -m venv /opt/gatepass \
    && /opt/gatepass/bin/pip install --no-cache-dir --disable-pip-version-check --no-index \
       --find-links=/wheels /wheels/*.whl \
    && rm -rf /wheels
USER 10001:10001
EXPOSE 8000 9090 9091
ENTRYPOINT ["gatepass"]
CMD ["operator"]
