# One image for all the sites and their sidecars; docker-compose.yml picks the process.
FROM python:3.11-slim

# Logs straight to `docker compose logs`; no .pyc files in the read-only code tree;
# /app on the path so every site imports the shared `common` app.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    ORDERPIPE_STATE=/var/lib/orderpipe

WORKDIR /app

# Dependencies before code, so editing code does not reinstall them.
COPY requirements/base.txt requirements/base.txt
RUN pip install -r requirements/base.txt

# The state folder exists and belongs to the app user, so a fresh named volume mounted
# there inherits that owner; the code stays root-owned and read-only to the process.
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin app \
 && install -d -o app -g app /var/lib/orderpipe

COPY . /app

USER app
