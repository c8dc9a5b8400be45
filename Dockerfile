# syntax=docker/dockerfile:1
# The operator image: `oncall-operator run` on a slim Python, as a numeric non-root user.
#
# Base: python:3.11.10-slim-bookworm, pinned by its multi-arch index digest (amd64 + arm64).
# Renovate/Dependabot keep the digest current; tests/unit/test_image.py checks every FROM is pinned.
ARG PYTHON_IMAGE=docker.io/library/python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16

# Stage 1: build the operator's wheel and install it, with the tested pins, into a venv.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md LICENSE constraints.txt ./
COPY operator ./operator
# Only binary wheels for the dependencies (--only-binary): no compiler is needed here either.
# The venv has no pip of its own; the base image's pip installs into it (--python).
# hadolint ignore=DL3013
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/oncall-operator \
 && python -m pip --python /opt/oncall-operator/bin/python install --no-compile \
      --only-binary=:all: --constraint constraints.txt /wheels/oncall_operator-*.whl \
 && /opt/oncall-operator/bin/python -m compileall -q /opt/oncall-operator/lib

# Stage 2: the runtime. The venv only; no build tools, no wheel cache, no source tree.
FROM ${PYTHON_IMAGE}
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="oncall-operator" \
      org.opencontainers.image.description="Kubernetes operator keeping PagerDuty on-call and Slack user groups in sync, with cleanup of stale people" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/oncall-operator/oncall-operator" \
      org.opencontainers.image.url="https://github.com/oncall-operator/oncall-operator" \
      org.opencontainers.image.documentation="https://github.com/oncall-operator/oncall-operator/blob/main/docs/helm.md" \
      org.opencontainers.image.vendor="oncall-operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /opt/oncall-operator /opt/oncall-operator
# MALLOC_ARENA_MAX=2: glibc's per-thread arenas otherwise grow RSS past 200 MiB at 1,000
# resources. MALLOC_MMAP_THRESHOLD_: blocks over 128 KiB (multi-megabyte API answers) always come
# from mmap and go back to the system when freed; glibc's sliding default moves them into the heap,
# which then stays fragmented - it halves the fleet's RSS (docs/benchmarks.md).
ENV PATH=/opt/oncall-operator/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072
# 65532: the conventional "nonroot" uid/gid (distroless); the chart's podSecurityContext uses it too.
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["oncall-operator", "run"]
