"""ChargeNet settings, read from the environment once, here.

With no environment set, ChargeNet runs embedded: SQLite, the in-memory channel
layer and eager Celery tasks. ``DATABASE_URL`` and ``REDIS_URL`` switch to
PostgreSQL, the Redis channel layer and a real Celery broker (see
ARCHITECTURE.md, "Settings and environment").
"""

import os
import sys
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

DEVELOPMENT_SECRET_KEY = "chargenet-development-key-do-not-use-in-production"


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


DEBUG = _env_flag("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY") or DEVELOPMENT_SECRET_KEY
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured(
        "Refusing to start with DEBUG=false and the development SECRET_KEY: "
        "set SECRET_KEY to a long random value."
    )

ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "daphne",
    # django-admin-interface restyles Django's own admin templates (same markup), so it and
    # its colour field come before the admin; its Theme row holds ChargeNet's colours.
    "admin_interface",
    "colorfield",
    "chargenet.apps.ChargeNetAdminConfig",  # django.contrib.admin with the role-scoped site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from here, not a CDN
    "stations",
    "billing",
    "pki",
    "roaming",
    "portal",
    "gateway",
    "chargenet.apps.ChargeNetConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "chargenet.hostile_input.RefuseNulMiddleware",
    "chargenet.static.StaticFilesMiddleware",  # WhiteNoise
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# django-admin-interface opens related-object popups in a same-origin iframe.
X_FRAME_OPTIONS = "SAMEORIGIN"
SILENCED_SYSTEM_CHECKS = ["security.W019"]

ROOT_URLCONF = "chargenet.urls"
ASGI_APPLICATION = "chargenet.asgi.application"
WSGI_APPLICATION = None

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

# --- Database -----------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the OCPP consumer writes.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and Celery -----------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "").strip()

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                # Separates deployments (or test runs) sharing one Redis.
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "asgi"),
                # Station groups live as long as the connection; re-joined on reconnect.
                "group_expiry": 7 * 24 * 3600,
                "capacity": 1000,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "UTC"
# Deployments (and test runs) sharing one Redis keep their tasks apart by queue name.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "celery")
CELERY_BEAT_SCHEDULE = {
    # Invoices for the previous month go out on the 1st, 02:00 UTC.
    "monthly-invoicing": {"task": "billing.run_invoicing", "schedule": crontab(minute=0, hour=2, day_of_month=1)},
    # Market (day-ahead) prices of dynamic tariffs: every feed, hourly at :05.
    "market-prices-import": {"task": "billing.import_market_prices", "schedule": crontab(minute=5)},
    # Sites with load management and sessions: limits that change on a schedule, profile renewal.
    "site-load-rebalance": {"task": "stations.smart_charging.tasks.rebalance_managed_sites", "schedule": 60.0},
    "site-load-samples-pruning": {
        "task": "stations.smart_charging.tasks.prune_load_samples", "schedule": crontab(minute=30, hour=3),
    },
    # Running firmware campaigns: timeouts, waves, windows, the next stations.
    "firmware-campaigns": {"task": "stations.advance_firmware_campaigns", "schedule": 60.0},
    # Roaming: retry what partners did not take yet (each push is also tried at once).
    "roaming-outbox": {"task": "roaming.deliver_all", "schedule": 60.0},
    # Roaming (eMSP): CPO partners' locations and tariffs, pulled whole in case a push was lost.
    "roaming-pull-locations": {"task": "roaming.pull_all", "schedule": crontab(minute=15)},
}

# Embedded mode (no REDIS_URL): the server runs this schedule itself (chargenet/periodic.py);
# one process per database does. CHARGENET_PERIODIC_INTERVAL_S shortens the every-minute jobs.
CHARGENET_PERIODIC_JOBS = _env_flag("CHARGENET_PERIODIC_JOBS", not REDIS_URL)
CHARGENET_PERIODIC_INTERVAL_S = float(os.environ.get("CHARGENET_PERIODIC_INTERVAL_S") or 0) or None

# --- Auth, API ------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "chargenet.hostile_input.LimitOffsetPagination",
    "DEFAULT_PARSER_CLASSES": [
        "chargenet.hostile_input.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "chargenet.api_errors.exception_handler",  # 404s name no model class
    "DEFAULT_FILTER_BACKENDS": [
        "chargenet.api_errors.ChoiceFriendlyFilterBackend",  # ?status=active as well as Active
        "rest_framework.filters.OrderingFilter",
    ],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ChargeNet API",
    "DESCRIPTION": "Charging network management: stations, sessions, tariffs, invoices.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/docs/ loads Swagger UI from our own static files: nothing from outside the server.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ChargingProfileKindEnum": "stations.smart_charging.models.ChargingProfileKind",
        "FirmwareCampaignStatusEnum": "stations.firmware.models.CampaignStatus",
    },
}

# --- Billing --------------------------------------------------------------------
# The seller printed on invoices.
CHARGENET_INVOICE_SELLER = {
    "name": os.environ.get("INVOICE_SELLER_NAME", "ChargeNet Demo Operator GmbH"),
    "address": os.environ.get("INVOICE_SELLER_ADDRESS", "Europaplatz 1|10557 Berlin|Germany").split("|"),
    "vat_id": os.environ.get("INVOICE_SELLER_VAT_ID", "DE000000000"),
}

# Invoices are due this many days after their date (printed with the payment terms).
CHARGENET_INVOICE_PAYMENT_TERMS_DAYS = int(os.environ.get("INVOICE_PAYMENT_TERMS_DAYS", "14"))
# A PNG or JPEG printed at the top of every invoice PDF (empty: none).
CHARGENET_INVOICE_LOGO = os.environ.get("INVOICE_LOGO", "")

# --- Internationalisation -------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves static files from daphne itself; straight from the apps' static folders
# until `collectstatic` has filled STATIC_ROOT (as `make run` does).
WHITENOISE_USE_FINDERS = _env_flag("WHITENOISE_USE_FINDERS", True)

# --- Portal -----------------------------------------------------------------------
# Verification and password-reset mails: printed on the console unless EMAIL_BACKEND says otherwise.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "ChargeNet <no-reply@chargenet.local>")
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:home"

# --- Firmware and diagnostics files ---------------------------------------------
# Uploaded through Django's default storage; embedded default under the project (git-ignored).
MEDIA_ROOT = os.environ.get("MEDIA_ROOT") or str(BASE_DIR / "media")
MEDIA_URL = "media/"
# The base URL stations reach this server at over HTTP(S): firmware download and
# diagnostics upload links are built from it.
CHARGENET_PUBLIC_URL = os.environ.get("CHARGENET_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# How long a firmware download / diagnostics upload link stays valid (seconds).
FIRMWARE_URL_MAX_AGE_S = int(os.environ.get("FIRMWARE_URL_MAX_AGE_S", str(24 * 3600)))
DIAGNOSTICS_UPLOAD_MAX_AGE_S = int(os.environ.get("DIAGNOSTICS_UPLOAD_MAX_AGE_S", str(24 * 3600)))
DIAGNOSTICS_UPLOAD_MAX_BYTES = int(os.environ.get("DIAGNOSTICS_UPLOAD_MAX_BYTES", str(100 * 1024 * 1024)))

# --- OCPP ----------------------------------------------------------------------
# Unknown stations may connect and are held as Pending until an operator approves them.
CHARGENET_AUTO_REGISTER = _env_flag("CHARGENET_AUTO_REGISTER", False)
# Interval the CSMS asks stations to send heartbeats at (seconds).
OCPP_HEARTBEAT_INTERVAL = int(os.environ.get("OCPP_HEARTBEAT_INTERVAL", "300"))
# How long a CSMS-initiated command waits for the station's answer (seconds).
OCPP_COMMAND_TIMEOUT = float(os.environ.get("OCPP_COMMAND_TIMEOUT", "30"))
# Running cost to stations that show costs (2.0.1 CostUpdated, 1.6 California RunningCost), every
# this many seconds during a session; 0 turns it off.
OCPP_COST_UPDATE_INTERVAL_S = int(os.environ.get("OCPP_COST_UPDATE_INTERVAL_S", "60"))
if OCPP_COST_UPDATE_INTERVAL_S > 0:
    CELERY_BEAT_SCHEDULE["running-costs-to-stations"] = {
        "task": "billing.send_running_costs", "schedule": float(OCPP_COST_UPDATE_INTERVAL_S),
    }
# Largest OCPP-J frame a station may send (bytes of UTF-8); larger ones get a CALLERROR
# (1.6 FormationViolation, 2.0.1 RpcFrameworkError) and the connection stays open.
OCPP_MAX_FRAME_BYTES = int(os.environ.get("OCPP_MAX_FRAME_BYTES", str(1024 * 1024)))
# Threads the OCPP layer runs database calls on (SQLite: one writer at a time).
_SQLITE = DATABASES["default"]["ENGINE"].endswith("sqlite3")
OCPP_DB_THREADS = int(os.environ.get("OCPP_DB_THREADS", "1" if _SQLITE else "4"))
# Meter values of all stations are written in batches: a frame waits at most this long
# for others (0 turns batching off) and a batch holds at most this many frames.
OCPP_METER_BATCH_WINDOW_MS = float(os.environ.get("OCPP_METER_BATCH_WINDOW_MS", "20"))
OCPP_METER_BATCH_SIZE = 200
# Each process renews "last seen" of the stations it holds this often (seconds), in one
# UPDATE; a station nobody renewed for three intervals is marked offline.
OCPP_LAST_SEEN_WRITE_INTERVAL = float(os.environ.get("OCPP_LAST_SEEN_WRITE_INTERVAL", "30"))
# Handshakes: station credentials are cached per process this long (seconds; saves in
# this process invalidate at once), at most this many handshakes work at a time, and one
# that waited this long for its turn is refused (with `gateway.serve --server daphne`,
# keep it below daphne's --websocket_connect_timeout, 30 s there).
OCPP_STATION_CACHE_TTL = float(os.environ.get("OCPP_STATION_CACHE_TTL", "10"))
OCPP_HANDSHAKE_CONCURRENCY = int(os.environ.get("OCPP_HANDSHAKE_CONCURRENCY", "500"))
OCPP_HANDSHAKE_WAIT = float(os.environ.get("OCPP_HANDSHAKE_WAIT", "20"))

# --- Roaming (OCPI 2.2.1, CPO and eMSP) ------------------------------------------
# Our roles towards partners: CPO (partners' drivers charge here), EMSP (our drivers
# charge at partners), or both (comma-separated). Decides the endpoints we advertise.
OCPI_ROLES = [r.strip().upper() for r in os.environ.get("OCPI_ROLES", "CPO,EMSP").split(",") if r.strip()]
if not OCPI_ROLES or not set(OCPI_ROLES) <= {"CPO", "EMSP"}:
    raise ImproperlyConfigured(f"OCPI_ROLES must name CPO, EMSP or both (comma-separated), not {OCPI_ROLES}")
# Our drivers pay for a roaming charge: the partner's cost excl. VAT plus this margin,
# and our VAT on top (empty: no VAT).
OCPI_ROAMING_MARGIN_PERCENT = float(os.environ.get("OCPI_ROAMING_MARGIN_PERCENT", "15"))
OCPI_ROAMING_VAT_PERCENT = os.environ.get("OCPI_ROAMING_VAT_PERCENT", "19")
# Or our own roaming tariff (a billing tariff id), applied to the CDR's energy and time.
OCPI_ROAMING_TARIFF_ID = os.environ.get("OCPI_ROAMING_TARIFF_ID", "")
# The public URL partners reach us at; /ocpi/versions is appended for the credentials.
OCPI_BASE_URL = os.environ.get("OCPI_BASE_URL", "http://127.0.0.1:8000")
OCPI_COUNTRY_CODE = os.environ.get("OCPI_COUNTRY_CODE", "DE")
OCPI_PARTY_ID = os.environ.get("OCPI_PARTY_ID", "CNT")
OCPI_BUSINESS_NAME = os.environ.get("OCPI_BUSINESS_NAME", "ChargeNet")
OCPI_REQUEST_TIMEOUT_S = float(os.environ.get("OCPI_REQUEST_TIMEOUT_S", "10"))
# Real-time authorization of unknown tokens during OCPP Authorize/Start: all partners
# together get this long; no answer in time means the token is refused.
OCPI_AUTHORIZE_TIMEOUT_S = float(os.environ.get("OCPI_AUTHORIZE_TIMEOUT_S", "5"))
# A running session is pushed to its eMSP at most this often on meter values (seconds).
OCPI_SESSION_UPDATE_INTERVAL_S = int(os.environ.get("OCPI_SESSION_UPDATE_INTERVAL_S", "60"))
# Asked about tokens the network does not know (dotted path; empty: nobody).
CHARGENET_EXTERNAL_AUTHORIZER = "roaming.tokens.authorize_remotely"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # [pid]: with several server workers (gateway.serve) a line says which one wrote it.
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"}},
    # Written by a thread of its own (chargenet/log.py): a server's event loop never waits on stderr.
    "handlers": {"console": {"class": "chargenet.log.BackgroundStreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        # The ocpp package logs every frame at INFO.
        "ocpp": {"level": os.environ.get("OCPP_LOG_LEVEL", "WARNING")},
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
    },
}

# Tests only: tests/conftest.py sets this for the servers the suite starts, so that logins
# there check the fast test hashes (a production hash costs about half a second).
if _env_flag("CHARGENET_FAST_PASSWORD_HASHING", False):
    if not DEBUG:
        raise ImproperlyConfigured("CHARGENET_FAST_PASSWORD_HASHING is for tests; it is refused with DEBUG=false")
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- PKI and Plug & Charge ------------------------------------------------------
# CA private keys are sealed under a key derived from this value. Unset in development, a
# key derived from SECRET_KEY is used; with DEBUG=false the PKI refuses to touch keys
# without it (pki/keys.py). Changing it makes existing CA keys unreadable.
PKI_KEY_ENCRYPTION_KEY = os.environ.get("PKI_KEY_ENCRYPTION_KEY", "")
PKI_DEVELOPMENT_KEY_ALLOWED = DEBUG
# Where stations and EVs reach our OCPP responder and CRLs (written into certificates).
PKI_BASE_URL = os.environ.get("PKI_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Organisation (O) our CAs and station certificates carry; a CSR must name it.
PKI_ORGANIZATION = os.environ.get("PKI_ORGANIZATION", "ChargeNet")
# Sign station CSRs at once ("auto") or hold them for an operator's approval ("approve").
PKI_SIGNING_POLICY = os.environ.get("PKI_SIGNING_POLICY", "auto")
if PKI_SIGNING_POLICY not in {"auto", "approve"}:
    raise ImproperlyConfigured("PKI_SIGNING_POLICY must be 'auto' or 'approve'")
PKI_LEAF_VALIDITY_DAYS = int(os.environ.get("PKI_LEAF_VALIDITY_DAYS", "365"))
# Certificates expiring within this many days are renewed (TriggerMessage for a new CSR).
PKI_RENEWAL_WINDOW_DAYS = int(os.environ.get("PKI_RENEWAL_WINDOW_DAYS", "30"))
# Seconds to wait for a foreign OCSP responder before answering GetCertificateStatus Failed.
PKI_OCSP_FORWARD_TIMEOUT = float(os.environ.get("PKI_OCSP_FORWARD_TIMEOUT", "5"))
# Responder URLs come from stations: requests to loopback/private addresses are refused unless allowed.
PKI_OCSP_FORWARD_ALLOW_PRIVATE = _env_flag("PKI_OCSP_FORWARD_ALLOW_PRIVATE", False)
# Dotted path of the contract-certificate provider behind Get15118EVCertificate.
PKI_CONTRACT_PROVIDER = os.environ.get("PKI_CONTRACT_PROVIDER", "pki.services.contracts.LocalContractProvider")
PKI_CONTRACT_PROVIDER_URL = os.environ.get("PKI_CONTRACT_PROVIDER_URL", "")
# The built-in provider reads and writes ISO 15118-2 EXI with the EXIficient codec (a jar that
# `make install` fetches; pki/iso15118/fetch_codec.py) on this Java runtime.
PKI_EXI_CODEC_JAR = os.environ.get("PKI_EXI_CODEC_JAR", str(Path(sys.prefix) / "share" / "exi" / "EXICodec.jar"))
PKI_JAVA = os.environ.get("PKI_JAVA", "java")
# Start the codec with each server process (it takes seconds; an EV waits at most 5 s).
PKI_EXI_WARMUP = _env_flag("PKI_EXI_WARMUP", True)
# eMAIDs the built-in provider gives new contracts: country (2) + provider id (3), then "C"
# and eight characters (ISO 15118-2 Annex H, without the optional check digit).
PKI_EMAID_PREFIX = os.environ.get("PKI_EMAID_PREFIX", "ZZCNG")
# Security profile 3 behind a TLS-terminating proxy: the proxy's addresses, and the header
# it puts the verified client certificate in (URL-encoded PEM, as nginx's $ssl_client_escaped_cert).
PKI_TRUSTED_PROXIES = [p.strip() for p in os.environ.get("PKI_TRUSTED_PROXIES", "").split(",") if p.strip()]
PKI_CLIENT_CERT_HEADER = os.environ.get("PKI_CLIENT_CERT_HEADER", "X-SSL-Client-Cert")
# Ports daphne serves TLS on itself (its ssl: endpoints): connections there count as TLS.
OCPP_TLS_PORTS = {int(p) for p in os.environ.get("OCPP_TLS_PORTS", "").split(",") if p.strip()}
CELERY_BEAT_SCHEDULE["pki-renew-expiring-certificates"] = {
    "task": "pki.renew_expiring_certificates",
    "schedule": crontab(minute=15, hour=3),
}
