# One image for `gatepass operator` and `gatepass gateway`.
# Build stage: make the wheels (gatepass and its dependencies).
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY crds ./crds
COPY operator ./operator
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Final stage: the wheels installed, no compilers or build tools, non-root.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin gatepass
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl \
    && rm -rf /wheels
USER 10001:10001
EXPOSE 8000 9090 9091
ENTRYPOINT ["gatepass"]
CMD ["operator"]
