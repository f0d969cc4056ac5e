# testimony-api: the API server, migrations and seed corpus in one image.
#
# The package is installed in editable mode from /srv/testimony on purpose: app/settings.py
# derives PROJECT_ROOT from the package's location, and the migrations (pyproject.toml
# [tool.alembic]) and the seed (seed/) are found under PROJECT_ROOT. A regular install into
# site-packages would look for them there and not find them.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --create-home --uid 10001 --user-group testimony

WORKDIR /srv/testimony

COPY pyproject.toml README.md ./
COPY app/ app/
COPY migrations/ migrations/
COPY seed/ seed/

RUN pip install --no-cache-dir -e . \
    && mkdir -p .data \
    && chown testimony:testimony .data

USER testimony

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]

# --setup applies migrations and loads the seed (idempotent) before the workers start.
CMD ["testimony", "serve", "--setup", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
