# The Channel Manager simulator as a container image: `make image` builds cm-sim:<version>.
#
#   docker run --rm -p 8080:8080 cm-sim:0.1.0                        # in memory, as `cm-sim serve`
#   docker run --rm -p 8080:8080 -v "$PWD/my-scenarios:/scenarios:ro" -v cm-sim-data:/data \
#       cm-sim:0.1.0 --scenario sold-out mine.toml --data /data/state.json   # arguments: to `cm-sim serve`
#
# It serves `cm-sim serve --host 0.0.0.0 --port 8080 --allow-remote-control --scenario-dir /scenarios`
# as a non-root user (uid 10001); arguments after the image name are added to that command line.
# /scenarios (the working directory) is where to mount your scenario files; bundled scenarios
# go by name (sold-out). /data is a volume for `--data /data/state.json` (without --data the
# state is in memory, the simulator's default).
#
# BASE: python:3.11-slim by default (named in full, so podman need not resolve a short name);
# any Debian-like image works, a plain Debian bookworm too: python3 comes from its packages when
# the base has none.
# PIP_CERT: a CA bundle for pip inside the build, behind a proxy that re-signs HTTPS (empty: none).
ARG BASE=docker.io/library/python:3.11-slim

FROM ${BASE} AS build
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN if ! command -v python3 >/dev/null; then apt-get update -qq && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null && \
      rm -rf /var/lib/apt/lists/*; fi
RUN python3 -m venv /opt/cm-sim
# the runtime dependencies first, from pyproject.toml alone: a change to the code keeps this layer
COPY pyproject.toml /src/
RUN if [ -z "$PIP_CERT" ]; then unset PIP_CERT; fi && \
    python3 -c 'import tomllib; print("\n".join(tomllib.load(open("/src/pyproject.toml", "rb"))["project"]["dependencies"]))' \
      > /tmp/requirements.txt && \
    /opt/cm-sim/bin/pip install --quiet -r /tmp/requirements.txt
COPY README.md /src/
COPY simulator /src/simulator
COPY scenarios /src/scenarios
# a wheel built from this checkout, installed without its dependencies (installed above, checked
# below); then pip and setuptools leave the venv and everything is compiled to bytecode that is
# never checked against its source (the image does not change), so start-up compiles nothing
RUN if [ -z "$PIP_CERT" ]; then unset PIP_CERT; fi && \
    /opt/cm-sim/bin/pip wheel --quiet --no-deps --wheel-dir /tmp/wheels /src && \
    /opt/cm-sim/bin/pip install --quiet --no-deps /tmp/wheels/*.whl && \
    /opt/cm-sim/bin/pip check && \
    /opt/cm-sim/bin/pip uninstall --quiet --yes pip setuptools && \
    find /opt/cm-sim -name '__pycache__' -type d -prune -exec rm -rf {} + && \
    /opt/cm-sim/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/cm-sim/lib

FROM ${BASE}
ARG VERSION
LABEL org.opencontainers.image.title="cm-sim" \
      org.opencontainers.image.description="A high-fidelity simulator of NaviPartner's Channel Manager API" \
      org.opencontainers.image.version="${VERSION}"
RUN if ! command -v python3 >/dev/null; then apt-get update -qq && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 >/dev/null && \
      apt-get clean && rm -rf /var/lib/apt/lists/*; fi && \
    groupadd --gid 10001 cm-sim && \
    useradd --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin cm-sim && \
    mkdir -p /data /scenarios && chown 10001:10001 /data
COPY --from=build /opt/cm-sim /opt/cm-sim
ENV PATH=/opt/cm-sim/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /scenarios
VOLUME ["/data"]
EXPOSE 8080
# Docker and podman (built with --format docker) run this; a Docker-less runner can call
# GET /_sim/health itself. It assumes the default --port 8080.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python3", "-I", "-c", "import http.client as h, sys; c = h.HTTPConnection('127.0.0.1', 8080, timeout=2); c.request('GET', '/_sim/health'); sys.exit(c.getresponse().status != 200)"]
# exec form: cm-sim is PID 1 and gets docker stop's SIGTERM itself (a graceful stop)
STOPSIGNAL SIGTERM
ENTRYPOINT ["cm-sim", "serve", "--host", "0.0.0.0", "--port", "8080", "--allow-remote-control", "--scenario-dir", "/scenarios"]
CMD []
