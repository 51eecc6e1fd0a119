"""Settings for the plant HMI, read from the environment (12-factor).

Defaults point at the local services of a dev box, so nothing needs setting there. Production
(DEBUG=false) refuses to start with a development secret key.
"""

import math
import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"


def env_bool(name: str, default: bool) -> bool:
    """Read a 'true'/'false' variable; anything else is a configuration error, not a guess."""
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false", "1", "0"):
        raise ImproperlyConfigured(f"{name} must be 'true' or 'false', not {value!r}")
    return value.lower() in ("true", "1")


def env_secret(name: str, default: str = "") -> str:
    """Read a secret from NAME, or from the file NAME_FILE names (compose's /run/secrets/...).

    A file keeps the secret out of `docker inspect` and the process environment. Setting both,
    or naming a file that cannot be read or is empty, is a configuration error, never a
    silent fallback to the default. One trailing newline (as `echo` writes) is not part of it.
    """
    value, path = os.environ.get(name), os.environ.get(f"{name}_FILE")
    if value is not None and path is not None:
        raise ImproperlyConfigured(f"set {name} or {name}_FILE, not both")
    if path is None:
        return default if value is None else value
    try:
        secret = Path(path).read_text().removesuffix("\n").removesuffix("\r")
    except (OSError, UnicodeDecodeError) as error:
        raise ImproperlyConfigured(f"{name}_FILE: cannot read {path!r} ({error})") from None
    if not secret:
        raise ImproperlyConfigured(f"{name}_FILE: {path!r} is empty")
    return secret


def url_with_password(url: str, password: str) -> str:
    """The URL with `password` as its password, percent-quoted so that / # ? @ : % survive.

    An empty password leaves the URL as it is. A URL without a user name has no place for one.
    """
    if not password:
        return url
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    if not at or not user:
        raise ImproperlyConfigured(
            f"{parts.scheme}://{hostport}{parts.path}: a password needs a user name in the URL"
        )
    return parts._replace(netloc=f"{user}:{quote(password, safe='')}@{hostport}").geturl()


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


INTERVAL_UNITS_S = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800, "month": 2592000}


def env_interval(name: str, default: str) -> str | None:
    """Read an age such as '7 days' or '12 hours' (a PostgreSQL interval); 'off' gives None."""
    value = os.environ.get(name, default).strip().lower()
    if value == "off":
        return None
    match = re.fullmatch(r"(\d+) ?(minute|hour|day|week|month)s?", value)
    if not match or int(match[1]) == 0:
        raise ImproperlyConfigured(
            f"{name} must look like '7 days', '12 hours' or 'off', not {value!r}"
        )
    return f"{int(match[1])} {match[2]}s"


def interval_seconds(interval: str) -> int:
    """The length of an interval from env_interval, in seconds (a month counts as 30 days)."""
    count, unit = interval.split()
    return int(count) * INTERVAL_UNITS_S[unit.removesuffix("s")]


DEBUG = env_bool("DEBUG", default=True)
SECRET_KEY = env_secret("SECRET_KEY", DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY or (not DEBUG and SECRET_KEY == DEV_SECRET_KEY):
    raise ImproperlyConfigured("SECRET_KEY must be set to a secret value when DEBUG is false")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# The application connects as DATABASE_URL: in production a role that owns nothing (manage.py
# create_app_role), so it can neither drop nor disable the journals' triggers, nor TRUNCATE.
# The commands that change the schema or the roles connect as the owner, MIGRATE_DATABASE_URL
# (by default the same URL: one role for everything). `manage.py run` migrates before it starts
# the application, so it is one of them; its children get an application URL (run.py).
# A password may come from DATABASE_PASSWORD(_FILE) and MIGRATE_DATABASE_PASSWORD(_FILE).
OWNER_COMMANDS = ("migrate", "create_app_role", "run")
APP_DATABASE_URL = url_with_password(
    os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scada"),
    env_secret("DATABASE_PASSWORD"),
)
OWNER_DATABASE_URL = (
    url_with_password(os.environ["MIGRATE_DATABASE_URL"], env_secret("MIGRATE_DATABASE_PASSWORD"))
    if os.environ.get("MIGRATE_DATABASE_URL")
    else APP_DATABASE_URL
)
IS_OWNER = Path(sys.argv[0]).name == "manage.py" and sys.argv[1:2] in [
    [command] for command in OWNER_COMMANDS
]
DATABASE_URL = OWNER_DATABASE_URL if IS_OWNER else APP_DATABASE_URL
# No persistent connections: daphne runs each request's sync code in a thread of its own, and a
# connection kept per thread (CONN_MAX_AGE) is never reused; 32 users took all 100 connections of
# PostgreSQL and got 500s ("too many clients"). Django's documentation says the same for ASGI.
# Instead each process has a pool (psycopg_pool): a request borrows a connection and gives it
# back when it ends, and waits up to DB_POOL_TIMEOUT seconds for one when all are lent.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
# A lent connection is checked first, so one broken by a database restart is replaced, not used.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5
# JIT compiles a large aggregate for a second or more to save milliseconds; the historian's
# plain-PostgreSQL path would pay that on every long trend.
DATABASES["default"]["OPTIONS"].setdefault("options", "-c jit=off")


def env_int(name: str, default: int, least: int = 0) -> int:
    """Read a whole number of at least `least`; anything else is a configuration error."""
    value = os.environ.get(name, str(default))
    if not value.strip().isdigit() or int(value) < least:
        raise ImproperlyConfigured(
            f"{name} must be a whole number of at least {least}, not {value!r}"
        )
    return int(value)


def env_float(name: str, default: float, least: float = 0.0) -> float:
    """Read a finite number of at least `least`; anything else is a configuration error."""
    value = os.environ.get(name, str(default))
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < least:
        raise ImproperlyConfigured(f"{name} must be a number of at least {least}, not {value!r}")
    return number


# The ingest worker, the simulator and the notification dispatcher use the database from a few
# threads of their own; every other process (daphne above all) serves requests. Each gets a
# pool of its own size.
IS_WORKER = Path(sys.argv[0]).name == "manage.py" and sys.argv[1:2] in (
    ["ingest"],
    ["simulate"],
    ["notify"],
)
# Size the pools so that every process at its maximum still fits PostgreSQL's max_connections
# (100 by default, 3 of them kept for superusers): per web process DB_POOL_MAX (20), per
# worker WORKER_DB_POOL_MAX (4), plus the one-shot migrate and psql (say 5). The default set-up
# (one daphne, one ingest, one simulate) then needs at most 20 + 4 + 4 + 5 = 33; four daphnes
# behind a load balancer 4 x 20 + 8 + 5 = 93 of the 97. A request that finds all connections
# lent waits for one (up to DB_POOL_TIMEOUT s) instead of failing, so a small pool only queues.
# DB_POOL_MAX=0 turns pooling off (Django's default of a connection per request).
DB_POOL_MAX = env_int("WORKER_DB_POOL_MAX" if IS_WORKER else "DB_POOL_MAX", 4 if IS_WORKER else 20)
if DB_POOL_MAX:
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": min(env_int("DB_POOL_MIN", 1), DB_POOL_MAX),
        "max_size": DB_POOL_MAX,
        # Bounded like connect_timeout: with the database gone, a borrower gets OperationalError
        # after this long (the ingest worker then backs off and retries, holding its messages).
        "timeout": env_int("DB_POOL_TIMEOUT", 10, least=1),
        "max_lifetime": 3600,
    }
# History reads (trends, the history API and its export, analytics) from a PostgreSQL
# streaming replica, when DATABASE_REPLICA_URL names one (plant/read_replica.py); everything
# else, writes above all, stays on DATABASE_URL. Same pool settings, a quicker give-up: an
# unreachable replica sends history to the primary instead of making the page wait.
DATABASE_REPLICA_URL = url_with_password(
    os.environ.get("DATABASE_REPLICA_URL", ""), env_secret("DATABASE_REPLICA_PASSWORD")
)
if DATABASE_REPLICA_URL:
    replica = dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=0)
    replica["CONN_HEALTH_CHECKS"] = True
    replica["OPTIONS"] = {**DATABASES["default"]["OPTIONS"], "connect_timeout": 2}
    if "pool" in replica["OPTIONS"]:
        replica["OPTIONS"]["pool"] = {**replica["OPTIONS"]["pool"], "timeout": 3}
    replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = replica
DATABASE_ROUTERS = ["plant.read_replica.ReadReplicaRouter"]
# "auto": use TimescaleDB for the historian when `CREATE EXTENSION timescaledb` works;
# "off": plain PostgreSQL even where the extension exists.
TIMESCALEDB = os.environ.get("TIMESCALEDB", "auto")
if TIMESCALEDB not in ("auto", "off"):
    raise ImproperlyConfigured(f"TIMESCALEDB must be 'auto' or 'off', not {TIMESCALEDB!r}")
# With TimescaleDB: compress sample chunks older than this, and drop those older than the
# retention ("off": keep everything). Applied by every `manage.py migrate`.
HISTORIAN_COMPRESS_AFTER = env_interval("HISTORIAN_COMPRESS_AFTER", "7 days")
HISTORIAN_RETENTION = env_interval("HISTORIAN_RETENTION", "off")
# The aggregates re-read the last 3 days (late data); raw data they may still need must stay.
if HISTORIAN_RETENTION and interval_seconds(HISTORIAN_RETENTION) < 7 * 86400:
    raise ImproperlyConfigured("HISTORIAN_RETENTION must be at least 7 days, or 'off'")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
MQTT_URL = os.environ.get("MQTT_URL", "mqtt://127.0.0.1:1883")
if urlsplit(MQTT_URL).scheme not in ("mqtt", "mqtts"):
    raise ImproperlyConfigured(f"MQTT_URL must start with mqtt:// or mqtts://, not {MQTT_URL!r}")
# Every topic the product publishes or subscribes to lives under this root; tests use their own.
MQTT_TOPIC_ROOT = os.environ.get("MQTT_TOPIC_ROOT", "")
# Sparkplug B host application (ingest.sparkplug): the primary host id of our STATE topic
# (spBv1.0/STATE/<id>, no '/', '+' or '#'); empty turns Sparkplug off. Discovery is the
# default of a group seen for the first time (each group has its own switch in the admin).
SPARKPLUG_HOST_ID = os.environ.get("SPARKPLUG_HOST_ID", "scada-lite")
if any(c in SPARKPLUG_HOST_ID for c in "/+#"):
    raise ImproperlyConfigured(
        f"SPARKPLUG_HOST_ID may not hold '/', '+' or '#': {SPARKPLUG_HOST_ID!r}"
    )
SPARKPLUG_DISCOVERY = env_bool("SPARKPLUG_DISCOVERY", default=True)
# EMQX Neuron gateways (ingest.neuron): their uploads, write responses and status reports
# arrive under /neuron/, outside our topic root; false stops the worker subscribing there.
NEURON_ENABLED = env_bool("NEURON_ENABLED", default=True)
# Sparkplug 3.0's Reorder Timeout (ingest.sparkplug.reorder): a message whose seq is ahead of
# the expected one waits this long for the missing ones before the host asks for a rebirth.
# 0 asks at once (the held messages are stored first either way).
SPARKPLUG_REORDER_TIMEOUT_S = env_float("SPARKPLUG_REORDER_TIMEOUT_S", 2.0)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    # Login lockout: failed logins counted in the database, per user name and address.
    "axes",
    "plant",
    "ingest",
    "hmi",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Every SQL statement of a web request ends within WEB_STATEMENT_TIMEOUT_MS (a 503 if not).
    "hmi.web_limits.StatementTimeoutMiddleware",
    # A bearer token sent to change something is refused and recorded (tokens only read).
    "hmi.api.token_write_middleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who made a configuration change, for plant.config_history.
    "hmi.actor_middleware.config_actor_middleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Every page needs a login; the login page itself and static files are exempt.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # A session idle for SESSION_IDLE_MINUTES, or older than SESSION_MAX_HOURS, is logged out.
    "hmi.login_security.session_timeout_middleware",
    # Answers a login from a locked-out user name and address with the lockout page.
    "axes.middleware.AxesMiddleware",
]

# A web request's SQL statement is cancelled after this long; 0 turns the limit off.
WEB_STATEMENT_TIMEOUT_MS = env_int("WEB_STATEMENT_TIMEOUT_MS", 5000)

ROOT_URLCONF = "config.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # The person's colour theme (hmi/theme.py), from the session: no query.
                "hmi.theme.theme",
            ],
        },
    },
]
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # channels_redis waits for messages with a 5 s blocking read, and redis-py's
            # default socket timeout is also 5 s: without a longer one, every socket that sees
            # no message for 5 s dies with "Timeout reading from Redis" and has to reconnect.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
            "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "asgi"),
            "capacity": 1000,
            "expiry": 10,
        },
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# django-axes checks every login (the login page, the admin's, anything calling authenticate)
# before the password is even tried.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# LOGIN_FAILURE_LIMIT failed logins of one user name from one address lock that pair out for
# LOGIN_COOLOFF_MINUTES; each further try while locked starts the cool-off again. The pair,
# not the name alone: someone guessing at an operator's password from their own machine must
# not lock the operator out of the control room's terminal. A success clears the count.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, least=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, least=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "hmi.login_security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "hmi.login_security.client_address"
# Failures are security events (plant.security_events), shown to admins; axes' own log of
# every login and its admin pages are not needed (unlock: manage.py axes_reset_username NAME).
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False
# A shared control-room terminal: a session ends after SESSION_IDLE_MINUTES without a click
# (background polls do not count), and after SESSION_MAX_HOURS whatever happens (the cookie
# and the stored session expire then too).
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 480, least=1)
SESSION_MAX_HOURS = env_int("SESSION_MAX_HOURS", 12, least=1)
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600
# Security events (login failures and lockouts, refused sockets, misused tokens, refused MQTT
# identities): SECURITY_ALARM_EVENTS of them within SECURITY_ALARM_MINUTES raise a system
# alarm on every screen, cleared once that window holds fewer.
SECURITY_ALARM_EVENTS = env_int("SECURITY_ALARM_EVENTS", 10, least=1)
SECURITY_ALARM_MINUTES = env_int("SECURITY_ALARM_MINUTES", 10, least=1)
# Single sign-on through the plant's OpenID Connect provider (Keycloak, Azure AD/Entra ID, …),
# off unless OIDC_ISSUER is set (its discovery document is ISSUER/.well-known/openid-configuration).
# The client is confidential (OIDC_CLIENT_SECRET or OIDC_CLIENT_SECRET_FILE) and uses PKCE; the
# provider must send the user's groups in OIDC_GROUPS_CLAIM (ID token or userinfo), which the
# admin maps to roles and plants. Its redirect URI is https://<host>/accounts/sso/callback/.
OIDC_ISSUER = os.environ.get("OIDC_ISSUER", "").strip()
OIDC_CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = env_secret("OIDC_CLIENT_SECRET")
OIDC_SCOPES = os.environ.get("OIDC_SCOPES", "openid email profile groups")
OIDC_GROUPS_CLAIM = os.environ.get("OIDC_GROUPS_CLAIM", "groups")
OIDC_USERNAME_CLAIM = os.environ.get("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "single sign-on")
OIDC_TIMEOUT_S = env_int("OIDC_TIMEOUT_S", 5, least=1)
if OIDC_ISSUER and not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
    raise ImproperlyConfigured("OIDC_ISSUER needs OIDC_CLIENT_ID and OIDC_CLIENT_SECRET too")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "hmi:overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"  # stored in UTC; each plant shows its own zone
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Production (DEBUG=false) is HTTPS only and passes `manage.py check --deploy`: Secure cookies,
# a redirect of plain HTTP and HSTS for a year. SECURE_COOKIES=false serves plain HTTP (a bench
# on 127.0.0.1, say): check --deploy then warns, and compose.yaml refuses to start.
HTTPS_ONLY = not DEBUG and env_bool("SECURE_COOKIES", default=True)
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_SSL_REDIRECT = HTTPS_ONLY and env_bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 86400) if HTTPS_ONLY else 0
# HSTS covers the HMI host's own subdomains too (hmi.example.com: *.hmi.example.com); set false
# if one of them must still be reached over plain HTTP.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Preloading asks browsers to hard-code HTTPS for the whole registered domain, a promise only
# the domain's owner can make: off unless asked, and its check (security.W021) quiet then.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# Behind a TLS-terminating proxy (compose.yaml's caddy) daphne sees plain HTTP; the proxy says
# what the browser used in X-Forwarded-Proto. Believe it only when every request comes through
# a proxy that sets it, overwriting the client's own: Caddy does (config/caddy/Caddyfile).
if env_bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Secrets that may come from files (NAME_FILE, compose's secrets), each read by env_secret.
# A broker password goes into its URL here, quoted, so a password may hold / # ? @ or :.
MQTT_URL = url_with_password(MQTT_URL, env_secret("MQTT_PASSWORD"))
# The simulated devices log in as a device of their own (a device's rights: manage.py
# broker_access); empty: they use MQTT_URL, as on a broker without logins.
SIMULATOR_MQTT_URL = os.environ.get("SIMULATOR_MQTT_URL", "")
if SIMULATOR_MQTT_URL and urlsplit(SIMULATOR_MQTT_URL).scheme not in ("mqtt", "mqtts"):
    raise ImproperlyConfigured(
        f"SIMULATOR_MQTT_URL must start with mqtt:// or mqtts://, not {SIMULATOR_MQTT_URL!r}"
    )
SIMULATOR_MQTT_URL = url_with_password(SIMULATOR_MQTT_URL, env_secret("SIMULATOR_MQTT_PASSWORD"))
# The CA that signed the broker's certificate, for mqtts:// (a private CA: config/make_secrets.py);
# empty: the system's trusted CAs.
MQTT_CA_FILE = os.environ.get("MQTT_CA_FILE", "")
if MQTT_CA_FILE and not Path(MQTT_CA_FILE).is_file():
    raise ImproperlyConfigured(f"MQTT_CA_FILE: {MQTT_CA_FILE!r} is not a readable file")
# One password for every demo user (manage.py load_demo); empty: random ones kept in var/.
DEMO_PASSWORD = env_secret("DEMO_PASSWORD")
# The first superuser (manage.py ensure_admin); not "admin", the demo's plant administrator.
ADMIN_USERNAME = os.environ.get("ADMIN_USERNAME", "superuser")
ADMIN_PASSWORD = env_secret("ADMIN_PASSWORD")

# Alarm notifications (plant.notifications, sent by `manage.py notify`). E-mail goes to this
# SMTP server; EMAIL_USE_TLS is STARTTLS (port 587), EMAIL_USE_SSL implicit TLS (port 465).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 25, least=1)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("set EMAIL_USE_TLS (STARTTLS) or EMAIL_USE_SSL, not both")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, least=1)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "scada-lite@localhost")
# Where a notification's link points: the HMI as its people open it.
NOTIFY_SITE_URL = os.environ.get("NOTIFY_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
if urlsplit(NOTIFY_SITE_URL).scheme not in ("http", "https"):
    raise ImproperlyConfigured(f"NOTIFY_SITE_URL must be an http(s) URL, not {NOTIFY_SITE_URL!r}")
# A webhook that has not answered within this long has failed (and is tried again later).
NOTIFY_WEBHOOK_TIMEOUT_S = env_float("NOTIFY_WEBHOOK_TIMEOUT_S", 10.0, least=0.1)
# The CAs an https:// webhook's certificate must chain to; empty: the system's.
NOTIFY_WEBHOOK_CA_FILE = os.environ.get("NOTIFY_WEBHOOK_CA_FILE", "")
if NOTIFY_WEBHOOK_CA_FILE and not Path(NOTIFY_WEBHOOK_CA_FILE).is_file():
    raise ImproperlyConfigured(
        f"NOTIFY_WEBHOOK_CA_FILE: {NOTIFY_WEBHOOK_CA_FILE!r} is not a readable file"
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes logs every login and logout at INFO; failures are security events instead.
    # WeasyPrint (shift report PDFs) logs each step of every PDF at INFO.
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
    },
}
