# testimony-api: the API server, with its migrations and seed corpus, in one image.
#
# A regular (non-editable) install: the migrations and the seed ship inside the package and
# are found through it; the data folder (.data, for a generated cursor secret) is the working
# directory's.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --create-home --uid 10001 --user-group testimony

# The pinned dependencies first: this layer is rebuilt only when the lock changes.
COPY requirements.lock /tmp/src/
RUN pip install --no-cache-dir --require-hashes -r /tmp/src/requirements.lock

COPY pyproject.toml README.md LICENSE LICENSE-data.md /tmp/src/
COPY app/ /tmp/src/app/
RUN pip install --no-cache-dir --no-deps /tmp/src \
    && rm -rf /tmp/src

WORKDIR /srv/testimony
RUN chown testimony:testimony /srv/testimony

USER testimony

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]

# --setup applies migrations and loads the seed (idempotent) before the workers start.
CMD ["testimony", "serve", "--setup", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
