# One image for every meterflow process: `meterflow gateway|processor|closer|migrate|keys ...`.
#
#   docker build -t meterflow .            (docker-compose.yml builds it for you)
#   docker run --rm meterflow --help
#
# Without the `embedded` extra: in a container, Kafka, Redis and Postgres are real services.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    MF_API_HOST=0.0.0.0

# The unprivileged user every service runs as. Its home is the working directory, which must be
# writable: the processor (Faust) keeps a small folder under MF_DATA_DIR (default `.data`) here.
RUN groupadd --system --gid 10001 meterflow \
 && useradd --system --uid 10001 --gid meterflow --home-dir /home/meterflow --create-home \
        --shell /usr/sbin/nologin meterflow

WORKDIR /tmp/meterflow

# Dependencies first, read from pyproject.toml itself, so that a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; [print(d) for d in tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']]" \
        > requirements.txt \
 && pip install --no-cache-dir -r requirements.txt

# Then the project itself (no dev extras); its dependencies are already satisfied.
COPY README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-cache-dir . \
 && cd / && rm -rf /tmp/meterflow

# The gateway's spool (MF_SPOOL_DIR in docker-compose.yml), made here so that a volume mounted on it
# starts owned by the service's user.
RUN mkdir -p /var/lib/meterflow/spool && chown -R 10001:10001 /var/lib/meterflow

USER 10001:10001
WORKDIR /home/meterflow

# 8080: gateway HTTP API (MF_API_PORT); health and metrics of the processor (8081), closer (8082),
# webhook worker (8083) and payment worker (8084), each on its MF_*_WEB_PORT.
EXPOSE 8080 8081 8082 8083 8084

ENTRYPOINT ["meterflow"]
CMD ["gateway"]
