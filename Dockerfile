# syntax=docker/dockerfile:1
# The alerts service as a small image: the virtualenv is built in one stage and copied into a
# slim runtime stage (every dependency ships manylinux wheels, so neither stage needs a compiler).
#
#   docker build -t gaoping-alerts .
#   docker run -p 8080:8080 -v "$PWD/config:/srv/alerts/config:ro" -v alerts-var:/srv/alerts/var \
#     -e ALERTS_DATABASE_URL=postgresql://alerts:PASSWORD@db:5432/alerts -e TWILIO_ACCOUNT_SID=AC... \
#     -e TWILIO_AUTH_TOKEN=... -e TWILIO_FROM=+86... gaoping-alerts
#
# Config is read from /srv/alerts/config (mount your own over the Gaoping example); secrets only
# from the environment; var/ (SQLite database, SMS log, printable notices) is a volume: the example
# config's relative paths (../var, ../templates) resolve against /srv/alerts/config.
# tests/ops/test_dockerfile.py runs this file's install and start commands outside a container.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/alerts
COPY pyproject.toml README.md ./
COPY alerts ./alerts
RUN /opt/alerts/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/alerts/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ALERTS_LOG_FORMAT=json
RUN useradd --system --uid 10001 --home-dir /srv/alerts --shell /usr/sbin/nologin alerts \
    && mkdir -p /srv/alerts/var \
    && chown alerts:alerts /srv/alerts/var
WORKDIR /srv/alerts
# The same path as in the build stage: the virtualenv's scripts name their interpreter by path.
COPY --from=build /opt/alerts /opt/alerts
COPY templates ./templates
COPY config ./config
COPY alerts/demo/samples ./alerts/demo/samples
USER alerts
VOLUME ["/srv/alerts/var"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
CMD ["alerts", "serve", "--host", "0.0.0.0"]
