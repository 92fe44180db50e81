# syntax=docker/dockerfile:1
# weather-api image: a virtualenv built in one stage, copied into a clean runtime stage.
#
# BASE_IMAGE is the official image by digest (the multi-arch index of the tag beside it): a
# rebuild starts from the same bytes, whatever the tag was moved to since. `make image-smoke`
# passes a locally built Debian bookworm stand-in instead (no registry is reachable in CI); that
# one has python at /usr/bin/python3 where python:slim has /usr/local/bin/python3, so every step
# calls `python3` from PATH and the venv's own interpreter, never an absolute path to the base's.
ARG BASE_IMAGE=python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
RUN python3 -m venv /opt/weather-api
# Only what the wheel is built from (see .dockerignore): tests and tooling stay out of the image.
COPY requirements/constraints.txt requirements/constraints.txt
COPY pyproject.toml README.md ./
COPY src src
# Same pins as every other install of the project; a non-editable install so the runtime
# stage needs nothing from /src. pip compiles the .pyc files here, so a read-only root
# filesystem costs nothing at start-up.
RUN /opt/weather-api/bin/python -m pip install --constraint requirements/constraints.txt . \
    && /opt/weather-api/bin/weather-api --help >/dev/null

# The load-test image (`--target loadtest`): Locust with the locustfile, its settings and its
# profiles, for the Locust master and workers in kustomize/components/locust. Only Locust and
# what the locustfile imports (Locust's own dependencies, gevent among them, and the standard
# library): not the service, which the locustfile reaches over HTTP, and not matplotlib, which
# only loadtest/charts.py uses to draw a local run's charts (`make loadtest`). Locust's version
# is the one pinned in requirements/constraints.txt like everything else.
FROM ${BASE_IMAGE} AS loadtest-build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
RUN python3 -m venv /opt/locust
COPY requirements/constraints.txt requirements/constraints.txt
RUN /opt/locust/bin/python -m pip install --constraint requirements/constraints.txt locust \
    && /opt/locust/bin/locust --version

FROM ${BASE_IMAGE} AS loadtest
ENV PATH=/opt/locust/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=loadtest-build /opt/locust /opt/locust
# Locust reads locust.conf from its working directory; profiles/*.conf are there for --config.
WORKDIR /loadtest
COPY loadtest/ ./
USER 10001:10001
ENTRYPOINT ["locust"]
CMD ["--help"]

# Keep `runtime` the last stage: a plain `docker build` / `minikube image build` builds the last
# one. Extra images, like the load-test one above, stay above it and are built with --target.
FROM ${BASE_IMAGE} AS runtime
# No shell, compiler or package manager is added; the app writes nothing to disk, so the
# container runs with a read-only root filesystem (Kubernetes mounts an emptyDir on /tmp).
# JSON logs even under `docker run -t`, where --log-format auto would pick the console format.
ENV PATH=/opt/weather-api/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WEATHER_API_LOG_FORMAT=json
COPY --from=build /opt/weather-api /opt/weather-api
# Numeric, so that Kubernetes' runAsNonRoot can verify it without an /etc/passwd lookup.
USER 10001:10001
EXPOSE 8000
# No HEALTHCHECK: Kubernetes ignores it (the Deployment's probes use /healthz and /readyz) and
# the OCI image format that buildah writes by default has no field for it.
ENTRYPOINT ["weather-api"]
CMD ["serve", "--host", "0.0.0.0"]
