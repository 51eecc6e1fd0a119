# One image for every process of the product; compose.yaml picks the command:
# daphne (web, the default), `manage.py ingest`, `manage.py simulate`, and the one-shot migrate.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall them. Every pin has a wheel for
# linux/amd64 and arm64 (psycopg[binary] included), so no compiler is needed. Only the runtime:
# the tests and tools of requirements-dev.txt (Playwright alone is about 150 MB) stay out.
# WeasyPrint (the shift reports' PDFs) loads Pango through cffi, and needs a font to set text
# in: the slim image has neither.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
       fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files are collected at build time and served by WhiteNoise from the image. Settings
# refuse DEBUG=false without a SECRET_KEY, so the build passes a throwaway one that exists only
# during this step and never reaches a running container.
RUN SECRET_KEY=build-time-only-not-a-secret DEBUG=false python manage.py collectstatic --noinput

# Run as an unprivileged user; it may write only var/ (demo logins when DEMO_PASSWORD is unset).
# compose.yaml mounts the root read-only, with a tmpfs on /tmp. /mosquitto/auth is where its
# migrate (running as Mosquitto's uid, 1883) writes the broker's passwd and acl: a new named
# volume takes this directory's owner, so that uid may write there and nobody else read.
RUN useradd --system --uid 10001 --home-dir /app --no-create-home scada \
    && mkdir -p /app/var && chown scada /app/var \
    && mkdir -p /mosquitto/auth && chown 1883:1883 /mosquitto/auth && chmod 0700 /mosquitto/auth
USER scada

EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "config.asgi:application"]
