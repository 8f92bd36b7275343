"""Settings, read from the environment.

With no variable set the service runs on an embedded default: SQLite, local file
storage and a filesystem Celery broker, all under ./var/. Every variable is
documented in .env.example.
"""

import contextlib
import os
import secrets
from pathlib import Path

import dj_database_url
from django.utils.crypto import salted_hmac

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """An integer setting; unset or empty (as in .env.example) means the default."""
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _local_secret_key() -> str:
    """A stable key for the embedded default, so sessions survive restarts."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


DEBUG = env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY") or _local_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "backend.processors.admin_config.MediaconvAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by the site itself (no CDN)
    "backend.processors",
    "backend.batches",  # the domain: models, lifecycle, processing, storage (no HTTP)
    "backend.web",  # the pages people use
    "backend.api",  # the REST API
    "backend.ops",  # health, metrics, statistics, runstack
]

MIDDLEWARE = [
    # /healthz and /readyz: answered before the host check and the https redirect.
    "backend.ops.health.HealthProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "backend.web.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "backend.web.middleware.UploadSizeLimitMiddleware",
    "backend.web.multipart.TrackUploadBodyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language comes from the switcher's cookie, else from the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "backend.web.middleware.DatabaseUnavailableMiddleware",  # innermost: sees the views' exceptions first
]

ROOT_URLCONF = "backend.config.urls"
WSGI_APPLICATION = "backend.config.wsgi.application"
CSRF_FAILURE_VIEW = "backend.web.views.csrf_failure"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "backend.web.context_processors.limits",
            ],
        },
    },
]

# Database: Postgres in every real deployment; SQLite file for the embedded default.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: wait for locks instead of failing, and
    # take the write lock up front so two writers never deadlock on an upgrade.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    # Worker processes must see the test database, so it lives in a file too.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", DATA_DIR / "static"))
# whitenoise warns about a missing one; a worker host shares the site's settings but may not be
# allowed to create the web's folder (the worker image has no /srv/static), and never serves it.
with contextlib.suppress(OSError):
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True

# Storage: S3 (MinIO, SeaweedFS, AWS) when a bucket is named, local files otherwise.
S3_BUCKET = os.environ.get("S3_BUCKET", "")
S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL") or None
# The address browsers use for presigned downloads, when it differs from the one
# the servers use (e.g. http://minio:9000 inside compose, https://site/s3 outside).
S3_PUBLIC_ENDPOINT_URL = os.environ.get("S3_PUBLIC_ENDPOINT_URL") or S3_ENDPOINT_URL
S3_REGION = os.environ.get("S3_REGION", "us-east-1")
MEDIA_ROOT = DATA_DIR / "media"

if S3_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": S3_ENDPOINT_URL,
            "access_key": os.environ.get("S3_ACCESS_KEY_ID"),
            "secret_key": os.environ.get("S3_SECRET_ACCESS_KEY"),
            "region_name": S3_REGION,
            "addressing_style": "path",
            "signature_version": "s3v4",
            "file_overwrite": True,  # keys are deterministic: a retried task overwrites its own result
            "default_acl": None,
            "querystring_auth": True,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "allow_overwrite": True},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Limits. The form and the API refuse anything beyond them before storing a byte.
MAX_FILES_PER_BATCH = env_int("MAX_FILES_PER_BATCH", 100)
MAX_FILE_BYTES = env_int("MAX_FILE_BYTES", 50 * 1024 * 1024)  # one image
# One video or audio file. Files sent in parts straight to storage may be this large; one request
# through the web (a plain form, the one-request API call) carries at most MAX_REQUEST_BYTES.
MAX_MEDIA_FILE_BYTES = env_int("MAX_MEDIA_FILE_BYTES", 8 * 1024 * 1024 * 1024)
MAX_BATCH_BYTES = env_int("MAX_BATCH_BYTES", 20 * 1024 * 1024 * 1024)
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 2 * 1024 * 1024 * 1024)
# Uploads in parts (the page and /api/v1/uploads): part size, how long a signed part URL works, when an
# unfinished or unused upload is aborted, and which sites' pages may PUT parts to the bucket (CORS).
UPLOAD_PART_BYTES = env_int("UPLOAD_PART_BYTES", 8 * 1024 * 1024)
UPLOAD_PART_URL_SECONDS = env_int("UPLOAD_PART_URL_SECONDS", 3600)
UPLOAD_ABANDON_SECONDS = env_int("UPLOAD_ABANDON_SECONDS", 24 * 3600)
UPLOAD_CORS_ORIGINS = [o for o in os.environ.get("UPLOAD_CORS_ORIGINS", "*").split(",") if o]
# What one client (an address; an IPv6 /64) may hold in uploads in parts not yet taken into a batch:
# by default one batch's worth.
UPLOAD_MAX_OPEN_PER_CLIENT = env_int("UPLOAD_MAX_OPEN_PER_CLIENT", MAX_FILES_PER_BATCH)
UPLOAD_MAX_BYTES_PER_CLIENT = env_int("UPLOAD_MAX_BYTES_PER_CLIENT", MAX_BATCH_BYTES)
# Pillow refuses images above this many pixels (decompression bombs); set explicitly.
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 100_000_000)
# Animations (GIF, WebP, PNG): frames, and pixels over all frames (each frame is held until encoded).
MAX_ANIMATION_FRAMES = env_int("MAX_ANIMATION_FRAMES", 1000)
MAX_ANIMATION_PIXELS = env_int("MAX_ANIMATION_PIXELS", 200_000_000)
# Django counts files itself and answers 400 past its own limit; keep it above ours
# so the form can say what is wrong.
DATA_UPLOAD_MAX_NUMBER_FILES = MAX_FILES_PER_BATCH + 1
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # larger uploads stream to temp files, in a folder of their own
FILE_UPLOAD_TEMP_DIR = os.environ.get("FILE_UPLOAD_TEMP_DIR") or str(DATA_DIR / "upload-tmp")
with contextlib.suppress(OSError):
    Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
# A spooled upload older than this was left by a web process that died mid-request (web/tempfiles.py).
WEB_TEMP_MAX_AGE_SECONDS = env_int("WEB_TEMP_MAX_AGE_SECONDS", 3600)
ARCHIVE_LIFETIME_SECONDS = env_int("ARCHIVE_LIFETIME_SECONDS", 3600)
# Presigned links are short-lived and never outlive the batch.
DOWNLOAD_LINK_SECONDS = env_int("DOWNLOAD_LINK_SECONDS", 600)
# Where local storage's signed links (its stand-in for S3's presigned URLs) are served by the web.
LOCAL_FILES_URL = "/files/"

# Reliability knobs (see README, "Reliability").
SWEEP_INTERVAL_SECONDS = env_int("SWEEP_INTERVAL_SECONDS", 60)
# A running file whose worker has not reported for this long is taken as lost.
STALE_AFTER_SECONDS = env_int("STALE_AFTER_SECONDS", 120)
HEARTBEAT_SECONDS = env_int("HEARTBEAT_SECONDS", 10)
# A queued file not started after this long is published again (lost message).
REQUEUE_AFTER_SECONDS = env_int("REQUEUE_AFTER_SECONDS", 600)
# Objects under batches/<id>/ with no batch row (an intake cut short) are deleted once this old,
# looked for every ORPHAN_SWEEP_INTERVAL_SECONDS.
ORPHAN_GRACE_SECONDS = env_int("ORPHAN_GRACE_SECONDS", 6 * 3600)
ORPHAN_SWEEP_INTERVAL_SECONDS = env_int("ORPHAN_SWEEP_INTERVAL_SECONDS", 3600)
# How many times a file may be started before it is failed for good.
MAX_ATTEMPTS = env_int("MAX_ATTEMPTS", 3)
STORAGE_RETRIES = env_int("STORAGE_RETRIES", 6)
# Address space one pool process may use (MB; 0: no limit). A file that needs more fails alone with
# a message, instead of the host's OOM killer choosing a victim. ffmpeg runs outside this limit.
WORKER_TASK_MEMORY_MB = env_int("WORKER_TASK_MEMORY_MB", 3072)
# Named chains offered in the form next to the presets administrators add in the admin.
PIPELINE_PRESETS = {
    "web-gallery": {
        "label": "Web gallery: 1600 px, © watermark, WebP 80",
        "steps": [
            {"processor": "resize", "options": {"mode": "fit", "width": 1600, "height": 1600}},
            {"processor": "watermark_text", "options": {"text": "©", "size": 4, "opacity": 50, "color": "#ffffff",
                                                        "position": "bottom-right", "margin": 3}},
            {"processor": "convert", "options": {"format": "WEBP", "quality": 80}},
        ],
    },
    "social-square": {
        "label": "Social square: 1080×1080 crop, no metadata, JPEG 85",
        "steps": [
            {"processor": "resize", "options": {"mode": "fill", "width": 1080, "height": 1080}},
            {"processor": "cleanup", "options": {}},
            {"processor": "convert", "options": {"format": "JPEG", "quality": 85, "progressive": True}},
        ],
    },
}
# Extra processor modules to import at start-up (comma separated dotted paths).
PROCESSOR_MODULES = env_list("PROCESSOR_MODULES")
# Offer the ffmpeg-based types even where ffmpeg is missing: on a web whose media workers have it.
MEDIA_ON_WORKERS = env_bool("MEDIA_ON_WORKERS")

# REST API (/api/v1/, documented at /api/docs/).
API_REQUIRE_TOKEN = env_bool("API_REQUIRE_TOKEN")  # then every API call needs `Authorization: Token <key>`
API_BATCH_CREATE_RATE = os.environ.get("API_BATCH_CREATE_RATE", "30/minute")  # per client IP; empty: no limit
API_UPLOAD_START_RATE = os.environ.get("API_UPLOAD_START_RATE", "300/minute")  # uploads in parts begun, per IP
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["backend.api.parsers.BoundedJSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_SCHEMA_CLASS": "backend.api.schema.ApiSchema",
    "EXCEPTION_HANDLER": "backend.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Trusted proxies in front of the web (nginx: 1). Only then is X-Forwarded-For believed, and only
# the hop they added (backend.web.client_address.py); by default the peer's address counts.
NUM_PROXIES = env_int("NUM_PROXIES", 0)
SPECTACULAR_SETTINGS = {
    "TITLE": "Media converter API",
    "DESCRIPTION": "Upload files, follow a batch, download its ZIP. Every error answers JSON: "
                   '{"error": "...", "fields": {"name": ["message"]}}.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}
# Callbacks (webhook_url on API batches): which hosts may be called ("*": any public host;
# ".example.com": that domain and its subdomains; empty: no callbacks), signed with WEBHOOK_SECRET.
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS")
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE")  # loopback and private networks (tests, intranets)
# Without one, a key derived from SECRET_KEY (a receiver that checks signatures never learns the site's own
# secret): `python manage.py shell -c "from django.conf import settings; print(settings.WEBHOOK_SECRET)"`.
WEBHOOK_SECRET = os.environ.get("WEBHOOK_SECRET") or salted_hmac("mediaconv.webhooks", "signing",
                                                                  secret=SECRET_KEY).hexdigest()
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
SITE_URL = os.environ.get("SITE_URL", "")  # e.g. https://convert.example.com, for absolute links in callbacks

# /metrics (Prometheus): open to these addresses, or to any client sending `Authorization: Bearer <token>`.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1")

# The cache holds translated script catalogues and the worker ping behind the statistics; the rate
# limits count in the database (batches/quotas.py), shared by every process whatever this is.
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHES = {"default": (
    {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL} if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
)}

# Celery beat: sweep batches every SWEEP_INTERVAL_SECONDS, and look for orphans (listing every object
# is costly on a large bucket) far less often. A sweep not started within its interval is dropped:
# the next one does its work.
CELERY_BEAT_SCHEDULE = {
    "sweep batches": {"task": "batches.sweep", "schedule": float(SWEEP_INTERVAL_SECONDS),
                      "options": {"expires": float(SWEEP_INTERVAL_SECONDS)}},
    "sweep orphans": {"task": "batches.sweep_orphans", "schedule": float(ORPHAN_SWEEP_INTERVAL_SECONDS),
                      "options": {"expires": float(ORPHAN_SWEEP_INTERVAL_SECONDS)}},
}
# Celery. Postgres holds all job state, so there is no result backend.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # kombu's default is ./control, which would land in the working directory (the repository).
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Unacked messages come back after this long if a whole worker host vanishes;
        # the sweeper usually notices much sooner through the heartbeat.
        "visibility_timeout": env_int("BROKER_VISIBILITY_TIMEOUT", 7200),
        # Ten priority levels, consumed strictly in order: a batch's first files go first (fair share).
        "priority_steps": list(range(10)),
        "sep": ":",
        "queue_order_strategy": "priority",
    }
# Files of one batch per priority level: a small batch's files overtake a large batch's later ones.
FAIR_SHARE_FILES = env_int("FAIR_SHARE_FILES", 2)

# Video and audio (ffmpeg). Each file gets MEDIA_TIME_LIMIT_BASE + FACTOR × its duration seconds.
MEDIA_MAX_DURATION_SECONDS = env_int("MEDIA_MAX_DURATION_SECONDS", 2 * 3600)
MEDIA_MAX_SIDE = env_int("MEDIA_MAX_SIDE", 7680)
MEDIA_MAX_OUTPUT_BYTES = env_int("MEDIA_MAX_OUTPUT_BYTES", 4 * 1024 * 1024 * 1024)
# Output budgets: a result may be this many times its original's size (never less than the floor: a
# small photo may become a large PNG), and one batch's results add up to at most the last one.
RESULT_MAX_FACTOR = env_int("RESULT_MAX_FACTOR", 50)
RESULT_FLOOR_BYTES = env_int("RESULT_FLOOR_BYTES", 32 * 1024 * 1024)
BATCH_MAX_OUTPUT_BYTES = env_int("BATCH_MAX_OUTPUT_BYTES", 40 * 1024 * 1024 * 1024)
MEDIA_PROBE_TIMEOUT = env_int("MEDIA_PROBE_TIMEOUT", 15)
# The work one video may cost, judged from its probe before decoding: frames, and pixels over all frames
# (default: two hours of 1080p at 30 frames a second).
MEDIA_MAX_FRAMES = env_int("MEDIA_MAX_FRAMES", 2 * 3600 * 60)
MEDIA_MAX_PIXELS = env_int("MEDIA_MAX_PIXELS", 2 * 3600 * 30 * 1920 * 1080)
MEDIA_TIME_LIMIT_BASE = env_int("MEDIA_TIME_LIMIT_BASE", 60)
MEDIA_TIME_LIMIT_FACTOR = env_int("MEDIA_TIME_LIMIT_FACTOR", 6)

IMAGE_SOFT_TIME_LIMIT = env_int("IMAGE_SOFT_TIME_LIMIT", 120)
# Celery's limit is only the backstop behind the per-file limit above.
MEDIA_SOFT_TIME_LIMIT = env_int(
    "MEDIA_SOFT_TIME_LIMIT", MEDIA_TIME_LIMIT_BASE + MEDIA_TIME_LIMIT_FACTOR * MEDIA_MAX_DURATION_SECONDS + 600
)
QUEUE_TIME_LIMITS = {  # queue: (soft, hard) seconds
    "images": (IMAGE_SOFT_TIME_LIMIT, IMAGE_SOFT_TIME_LIMIT + 30),
    "media": (MEDIA_SOFT_TIME_LIMIT, MEDIA_SOFT_TIME_LIMIT + 60),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "backend.ops.logs.JsonFormatter"},
    },
    # json (default): one object per line for log collectors; plain: for reading in a terminal.
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": os.environ.get("LOG_FORMAT", "json")}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"botocore": {"level": "WARNING"}, "PIL": {"level": "WARNING"}},
}

# Production hardening, on whenever DEBUG is off and HTTPS is declared.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
HTTPS = env_bool("HTTPS")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0)
# Every subdomain must be HTTPS too, and the site may be put on browsers' preload list;
# turn these off when a subdomain still serves plain HTTP.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # no script reads it: forms carry the token themselves
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
