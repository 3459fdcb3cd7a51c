"""Topolab's settings: one file, every deployment choice read from the environment.

Environment variables (all optional):

- ``TOPOLAB_DATA_DIR``: where the SQLite database and the generated secret key live
  (default ``var/`` in the checkout).
- ``DATABASE_URL``: a PostgreSQL (or other) database instead of SQLite.
- ``REDIS_URL``: the Celery broker, result backend and lease store
  (default: the local Redis as the ``topolab`` user, whose password compose/up
  keeps in ``<data dir>/redis-password``; see :func:`redis_url`).
- ``TOPOLAB_REDIS_DB``, ``TOPOLAB_REDIS_PASSWORD_FILE``: the local Redis's
  database number (0) and the file holding its password.
- ``TOPOLAB_REDIS_HOST``, ``TOPOLAB_REDIS_PORT``, ``TOPOLAB_REDIS_USER``,
  ``TOPOLAB_REDIS_CA``: Redis elsewhere or over TLS (a lab host, a site that
  admits lab hosts; see :func:`redis_url`).
- ``TOPOLAB_SITE``: the value of the ``topolab.site`` label on everything this
  installation creates, so that two installations (or a test run) on one Docker
  Engine never clean up each other's containers (default ``default``).
- ``TOPOLAB_QUEUE``: the Celery queue of this host's lab worker (default ``lab.<hostname>``).
- ``TOPOLAB_DEBUG``: ``1`` turns on Django's debug mode.
- ``TOPOLAB_ALLOWED_HOSTS``: comma-separated host names the web tier answers to.
"""
import json
import os
import secrets
import socket
from pathlib import Path
from urllib.parse import quote

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("TOPOLAB_DATA_DIR", BASE_DIR / "var"))


def _secret_key() -> str:
    """Read the secret key from the environment or from a file made once in DATA_DIR."""
    if os.environ.get("TOPOLAB_SECRET_KEY"):
        return os.environ["TOPOLAB_SECRET_KEY"]
    key_file = DATA_DIR / "secret_key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("TOPOLAB_DEBUG", "") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("TOPOLAB_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    # For its templates and static files: the API docs page loads Swagger UI from here, not a CDN.
    "ninja",
    "topology",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves collected static files from the ASGI process itself: no separate web server to set up.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # HEAD is GET without the body, on every view (outside CommonMiddleware, which sets Content-Length).
    "labsite.middleware.HeadAsGet",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A user with a one-time password (a course's CSV made the account) changes it before anything else.
    "labsite.middleware.ForcePasswordChange",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy (django-csp), with the terminal pages' allowance: see "Security" below.
    "labsite.middleware.ContentSecurityPolicy",
]

ROOT_URLCONF = "labsite.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "labsite.wsgi.application"
ASGI_APPLICATION = "labsite.asgi.application"

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
    # A test run's own database (tests/environment.py gives each run its site name): runs side by side
    # on one server do not drop each other's.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{os.environ.get('TOPOLAB_SITE', 'default')}".replace("-", "_")}
else:
    # The web tier, the root worker and the CLI share this file: WAL lets readers
    # go on while the worker writes events, and IMMEDIATE transactions with a
    # generous timeout turn lock contention into waiting instead of errors.
    _sqlite_options = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("TOPOLAB_DATABASE_PATH", str(DATA_DIR / "topolab.sqlite3")),
            "OPTIONS": _sqlite_options,
            "TEST": {"NAME": os.environ.get("TOPOLAB_TEST_DATABASE_PATH", str(DATA_DIR / "test.sqlite3"))},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Every password a user chooses (the forced change of a one-time password too, TOPOLAB_ADMIN_PASSWORD too) passes
# these: at least TOPOLAB_PASSWORD_MIN_LENGTH characters (10), not like the user name or email, not one of
# the common passwords, not digits only. (One-time passwords from a course's CSV are 16 random characters.)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": int(os.environ.get("TOPOLAB_PASSWORD_MIN_LENGTH", "10"))}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The first backend refuses sign-ins that have failed too often (topology/signin.py); the second checks passwords.
AUTHENTICATION_BACKENDS = ["topology.signin.AttemptLimit", "django.contrib.auth.backends.ModelBackend"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # The editor's libraries, installed from package-lock.json by `npm ci` (compose/lib.sh: ensure_js).
    ("vendor/cytoscape", BASE_DIR / "node_modules" / "cytoscape" / "dist"),
    ("vendor/cytoscape-edgehandles", BASE_DIR / "node_modules" / "cytoscape-edgehandles"),
    ("vendor/lodash.memoize", BASE_DIR / "node_modules" / "lodash.memoize"),
    ("vendor/lodash.throttle", BASE_DIR / "node_modules" / "lodash.throttle"),
    # The automatic layouts (static/topolab/layout.js): fCoSE and the two libraries it is built on.
    ("vendor/cytoscape-fcose", BASE_DIR / "node_modules" / "cytoscape-fcose"),
    ("vendor/cose-base", BASE_DIR / "node_modules" / "cose-base"),
    ("vendor/layout-base", BASE_DIR / "node_modules" / "layout-base"),
    # The consoles' terminal: its ES module builds and its stylesheet (not its TypeScript sources).
    ("vendor/xterm/lib", BASE_DIR / "node_modules" / "@xterm" / "xterm" / "lib"),
    ("vendor/xterm/css", BASE_DIR / "node_modules" / "@xterm" / "xterm" / "css"),
    ("vendor/xterm-addon-fit/lib", BASE_DIR / "node_modules" / "@xterm" / "addon-fit" / "lib"),
]
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# One handler, on the root logger: Topolab's records propagate to it, so each is printed once. (A handler
# of the "topology" logger's own printed every record twice under daphne, whose root handler printed it
# again; this root configuration replaces daphne's. Celery's worker puts its own root handler in place.)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"topology": {"level": os.environ.get("TOPOLAB_LOG_LEVEL", "INFO")}},
}

# --- Redis and Celery -------------------------------------------------------


def redis_url(environ=os.environ, data_dir: Path = DATA_DIR) -> str:
    """Where Redis is, and as whom: ``REDIS_URL`` if given, else Topolab's Redis as its ACL user.

    compose/up gives the local Redis an ACL user ``topolab`` whose password it
    keeps in ``<data dir>/redis-password`` (``TOPOLAB_REDIS_PASSWORD_FILE``
    says another file) and turns the default user off, so no other local
    process can reach the broker. Without that file (a checkout not yet set
    up) the URL has no credentials. ``TOPOLAB_REDIS_DB`` picks the database.

    A site that admits lab hosts (compose/install --allow-lab-hosts) serves Redis over TLS only, and a lab
    host reaches it over the network as a user of its own: ``TOPOLAB_REDIS_HOST`` (127.0.0.1),
    ``TOPOLAB_REDIS_PORT`` (6379), ``TOPOLAB_REDIS_USER`` (topolab) and ``TOPOLAB_REDIS_CA``, the CA
    certificate that signed the server's: with it the URL is ``rediss://`` and the server's certificate and
    name are checked (redis-py, Celery's broker and result backend and channels_redis all read
    ``ssl_cert_reqs`` and ``ssl_ca_certs`` from the URL). A ``rediss://`` REDIS_URL that says nothing of
    certificates gets ``ssl_cert_reqs=required``: Celery would otherwise accept any certificate.
    """
    if environ.get("REDIS_URL"):
        given = environ["REDIS_URL"]
        if given.startswith("rediss://") and "ssl_cert_reqs=" not in given:
            given += ("&" if "?" in given else "?") + "ssl_cert_reqs=required"
        return given
    db = int(environ.get("TOPOLAB_REDIS_DB", "0"))
    host = environ.get("TOPOLAB_REDIS_HOST") or "127.0.0.1"
    address = f"[{host}]" if ":" in host else host
    port = int(environ.get("TOPOLAB_REDIS_PORT") or "6379")
    user = environ.get("TOPOLAB_REDIS_USER") or "topolab"
    ca = environ.get("TOPOLAB_REDIS_CA")
    scheme, tls = ("rediss", f"?ssl_cert_reqs=required&ssl_ca_certs={quote(ca)}") if ca else ("redis", "")
    secret = Path(environ.get("TOPOLAB_REDIS_PASSWORD_FILE") or Path(data_dir) / "redis-password")
    try:
        password = secret.read_text().strip()
    except FileNotFoundError:
        return f"{scheme}://{address}:{port}/{db}{tls}"
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{address}:{port}/{db}{tls}"


REDIS_URL = redis_url()
TOPOLAB_QUEUE = os.environ.get("TOPOLAB_QUEUE", f"lab.{socket.gethostname()}")

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = TOPOLAB_QUEUE
CELERY_TASK_ACKS_LATE = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Websockets: lab events travel from the root worker to the web tier through Redis.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py's own 5 s socket timeout equals the time channels_redis
            # blocks waiting for a message, so a quiet websocket (an idle
            # console, a lab nobody changes) would die with a TimeoutError.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
            "prefix": f"topolab:{os.environ.get('TOPOLAB_SITE', 'default')}:ws",
        },
    },
    # Consoles and logs (topology.relay): Redis pub/sub, whose receiving cannot lose one
    # consumer's message when another consumer of the process is cancelled. Pub/sub
    # channel names are global to the Redis server, so the site is in every name.
    "consoles": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"topolab.{os.environ.get('TOPOLAB_SITE', 'default')}.tty."},
    },
}

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# --- Sign-in, sessions, attempt limits ------------------------------------------------------------------------
# A session lasts TOPOLAB_SESSION_SECONDS (12 h: a school day) from sign-in, however busy, and its cookie
# also ends with the browser (TOPOLAB_SESSION_AT_BROWSER_CLOSE=0 keeps it across restarts until then): a
# classroom's shared computers do not stay signed in for the next student.
SESSION_COOKIE_AGE = int(os.environ.get("TOPOLAB_SESSION_SECONDS", str(12 * 3600)))
SESSION_EXPIRE_AT_BROWSER_CLOSE = os.environ.get("TOPOLAB_SESSION_AT_BROWSER_CLOSE", "1") != "0"
SESSION_SAVE_EVERY_REQUEST = False  # said out loud: using the site does not extend a session
# Failed sign-ins (topology/signin.py): TOPOLAB_SIGNIN_ACCOUNT_FAILURES per user name as typed and
# TOPOLAB_SIGNIN_ADDRESS_FAILURES per client address within TOPOLAB_SIGNIN_WINDOW_SECONDS refuse every
# further sign-in of that name or from that address (a correct password too) until the window ends.
# Wrong join codes: TOPOLAB_JOIN_FAILURES per user per TOPOLAB_JOIN_WINDOW_SECONDS, then 429.
TOPOLAB_SIGNIN_ACCOUNT_FAILURES = int(os.environ.get("TOPOLAB_SIGNIN_ACCOUNT_FAILURES", "5"))
TOPOLAB_SIGNIN_ADDRESS_FAILURES = int(os.environ.get("TOPOLAB_SIGNIN_ADDRESS_FAILURES", "20"))
TOPOLAB_SIGNIN_WINDOW_SECONDS = int(os.environ.get("TOPOLAB_SIGNIN_WINDOW_SECONDS", str(15 * 60)))
TOPOLAB_JOIN_FAILURES = int(os.environ.get("TOPOLAB_JOIN_FAILURES", "10"))
TOPOLAB_JOIN_WINDOW_SECONDS = int(os.environ.get("TOPOLAB_JOIN_WINDOW_SECONDS", str(15 * 60)))

# --- Security -----------------------------------------------------------------
# Local development (compose/up) is plain HTTP on 127.0.0.1:8000, and nothing here changes it.
# A site served over HTTPS sits behind a reverse proxy that ends TLS and says so in
# X-Forwarded-Proto; TOPOLAB_HTTPS=1 tells Django to trust that header, to send cookies over
# HTTPS only, to redirect plain HTTP, and to send HSTS (TOPOLAB_HSTS_SECONDS, a year by
# default). Its two extensions reach beyond this host, so each is the administrator's choice:
# TOPOLAB_HSTS_INCLUDE_SUBDOMAINS and TOPOLAB_HSTS_PRELOAD, 1 for yes, 0 for a deliberate no
# (which also silences `check --deploy`'s reminder); left unset, the reminder stays.
# TOPOLAB_CSRF_TRUSTED_ORIGINS: comma-separated origins (https://lab.example.org) whose forms
# and API calls are accepted when the proxy does not pass the browser's Host on.
# `manage.py check --deploy --fail-level WARNING` is clean with these (tests/unit/test_security.py).
TOPOLAB_HTTPS = os.environ.get("TOPOLAB_HTTPS", "") == "1"
# Behind that proxy, a client's address (counted by the sign-in limit) is the last X-Forwarded-For hop, the
# one the proxy wrote; TOPOLAB_TRUSTED_PROXY (1 or 0, default: as TOPOLAB_HTTPS) says whether there is one.
# Without a proxy the header is the client's own words and REMOTE_ADDR is used.
TOPOLAB_TRUSTED_PROXY = os.environ.get("TOPOLAB_TRUSTED_PROXY", "1" if TOPOLAB_HTTPS else "0") == "1"
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("TOPOLAB_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
SILENCED_SYSTEM_CHECKS: list[str] = []
if TOPOLAB_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("TOPOLAB_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("TOPOLAB_HSTS_INCLUDE_SUBDOMAINS") == "1"
    SECURE_HSTS_PRELOAD = os.environ.get("TOPOLAB_HSTS_PRELOAD") == "1"
    if os.environ.get("TOPOLAB_HSTS_INCLUDE_SUBDOMAINS") == "0":
        SILENCED_SYSTEM_CHECKS.append("security.W005")
    if os.environ.get("TOPOLAB_HSTS_PRELOAD") == "0":
        SILENCED_SYSTEM_CHECKS.append("security.W021")
# Sent on every answer, HTTP or HTTPS (Django's defaults, said out loud).
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Content-Security-Policy (django-csp): every script and stylesheet comes from the site's own
# files (the templates hold no inline script, handler or style; JSON data blocks are not
# run), images also from data: URLs (the favicon, Swagger UI's icons), fetches and websockets
# to this origin only ('self' covers ws:/wss: of the same host), nothing plugged in, based
# elsewhere or framed. The pages that hold a terminal (TOPOLAB_CSP_TERMINAL_PAGES, by URL
# name) also allow inline styles: xterm.js writes <style> elements and style attributes of its
# own (its theme, its cell size, 24-bit colours) that no nonce or hash can cover.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
TOPOLAB_CSP_TERMINAL_PAGES = ["topology-editor", "node-console", "node-logs"]

# --- Labs ---------------------------------------------------------------------
TOPOLAB_SITE = os.environ.get("TOPOLAB_SITE", "default")

# Limits a document may not exceed (the spec's "server's node and link limits").
TOPOLAB_MAX_NODES = int(os.environ.get("TOPOLAB_MAX_NODES", "500"))
TOPOLAB_MAX_LINKS = int(os.environ.get("TOPOLAB_MAX_LINKS", "2000"))
# Addresses and routes in a whole document: they bound the time checking one takes.
TOPOLAB_MAX_ADDRESSES = int(os.environ.get("TOPOLAB_MAX_ADDRESSES", "12288"))
TOPOLAB_MAX_ROUTES = int(os.environ.get("TOPOLAB_MAX_ROUTES", "12288"))

# Per-node resources: the default when a node asks for nothing, and the cap
# when it asks for more.
TOPOLAB_DEFAULT_RESOURCES = {"cpus": 1.0, "memory_mb": 256, "pids": 256}
TOPOLAB_MAX_RESOURCES = {
    "cpus": float(os.environ.get("TOPOLAB_MAX_CPUS", "2")),
    "memory_mb": int(os.environ.get("TOPOLAB_MAX_MEMORY_MB", "2048")),
    "pids": int(os.environ.get("TOPOLAB_MAX_PIDS", "4096")),
}

# How many containers Docker starts at once: past about 4 on 2 cores, starting
# more in parallel only adds contention.
TOPOLAB_START_CONCURRENCY = int(os.environ.get("TOPOLAB_START_CONCURRENCY", "4"))

# The warm pool (topology/engine/pool.py): started, unconfigured containers the lab worker keeps ready for
# deploys, per image below (with the capabilities of the kinds that use it); the first value of its size and
# memory budget (the admin's site limits hold them after that). 0 turns it off.
TOPOLAB_POOL_SIZE = int(os.environ.get("TOPOLAB_POOL_SIZE", "20"))
TOPOLAB_POOL_MEMORY_MB = int(os.environ.get("TOPOLAB_POOL_MEMORY_MB", "256"))
TOPOLAB_POOL_IMAGES = [x for x in os.environ.get("TOPOLAB_POOL_IMAGES", "topolab/base").split(",") if x]
TOPOLAB_NETLINK_CONCURRENCY = int(os.environ.get("TOPOLAB_NETLINK_CONCURRENCY", "8"))

# Seconds between the web tier's checks that an open websocket (a lab's, a console's) may go
# on: the user still signed in, the topology still theirs, the node still running. A console
# pings its relay at the same pace; the relay counts 35 s of silence as a dead web process,
# so keep this well under 12.
TOPOLAB_HEARTBEAT = float(os.environ.get("TOPOLAB_HEARTBEAT_SECONDS", "10"))

# Terminals one user may have open at once, consoles, logs and supervisors' watches together, across
# every web process (topology/websockets/terminals.py): each costs the relay a docker exec or a
# watcher's buffer. A dropped console counts while its shell waits to be resumed. One more is told
# so and closed with code 4429.
TOPOLAB_MAX_TERMINALS_PER_USER = int(os.environ.get("TOPOLAB_MAX_TERMINALS_PER_USER", "16"))

# --- Packet captures (topology/capture: the root `manage.py capture` service) ---------------
# A capture stops at TOPOLAB_CAPTURE_MAX_BYTES of pcap or TOPOLAB_CAPTURE_MAX_SECONDS, whichever comes
# first, and TOPOLAB_CAPTURE_IDLE_SECONDS after its last watcher (a page, a streaming download) left. A user
# may run TOPOLAB_CAPTURE_MAX_PER_USER at once, a host TOPOLAB_CAPTURE_MAX_PER_HOST; one more is answered 429.
# Finished captures and their files are kept TOPOLAB_CAPTURE_KEEP_SECONDS for download (DATA_DIR/captures).
TOPOLAB_CAPTURE_MAX_BYTES = int(os.environ.get("TOPOLAB_CAPTURE_MAX_BYTES", str(100 * 1024 * 1024)))
TOPOLAB_CAPTURE_MAX_SECONDS = float(os.environ.get("TOPOLAB_CAPTURE_MAX_SECONDS", "900"))
TOPOLAB_CAPTURE_IDLE_SECONDS = float(os.environ.get("TOPOLAB_CAPTURE_IDLE_SECONDS", "20"))
TOPOLAB_CAPTURE_MAX_PER_USER = int(os.environ.get("TOPOLAB_CAPTURE_MAX_PER_USER", "2"))
TOPOLAB_CAPTURE_MAX_PER_HOST = int(os.environ.get("TOPOLAB_CAPTURE_MAX_PER_HOST", "16"))
TOPOLAB_CAPTURE_KEEP_SECONDS = float(os.environ.get("TOPOLAB_CAPTURE_KEEP_SECONDS", "3600"))
TOPOLAB_CAPTURE_SNAPLEN = int(os.environ.get("TOPOLAB_CAPTURE_SNAPLEN", "262144"))
TOPOLAB_CAPTURE_DIR = Path(os.environ.get("TOPOLAB_CAPTURE_DIR", str(DATA_DIR / "captures")))

# --- Commands in nodes (exec) -----------------------------------------------------
# They run on a worker process of their own, on the queue "<TOPOLAB_QUEUE>.exec"
# (topology/workers.py: exec_queue), so that deploys and destroys always find the lab
# worker's threads free. TOPOLAB_EXEC_CONCURRENCY is that worker's pool size and the most
# commands this host runs at once (compose/lib.sh starts it with the same default); a
# user may run TOPOLAB_MAX_EXECS_PER_USER at once, a lab TOPOLAB_MAX_EXECS_PER_LAB. One
# more is answered 429 with a Retry-After.
TOPOLAB_EXEC_CONCURRENCY = int(os.environ.get("TOPOLAB_EXEC_CONCURRENCY", "8"))
TOPOLAB_MAX_EXECS_PER_USER = int(os.environ.get("TOPOLAB_MAX_EXECS_PER_USER", "2"))
TOPOLAB_MAX_EXECS_PER_LAB = int(os.environ.get("TOPOLAB_MAX_EXECS_PER_LAB", "2"))

# --- Importing other tools' labs (topology/interop) --------------------------------
# Foreign images (containerlab's, Kathará's) are never pulled: each runs as its node kind's image unless
# TOPOLAB_IMAGE_MAP, a JSON object in the environment, maps its name (with or without the tag) to one of this
# site's own images, e.g. {"kathara/frr": "topolab/frr", "alpine:3.20": "registry:5000/alpine-tools"}.
TOPOLAB_IMAGE_MAP = json.loads(os.environ.get("TOPOLAB_IMAGE_MAP") or "{}")
if not isinstance(TOPOLAB_IMAGE_MAP, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in TOPOLAB_IMAGE_MAP.items()):
    raise ValueError("TOPOLAB_IMAGE_MAP is a JSON object of image name to image name")
