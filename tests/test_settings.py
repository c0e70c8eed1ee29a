"""Settings come from the environment as ARCHITECTURE.md's table says."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import services_required

ROOT = Path(__file__).resolve().parent.parent


def load_settings(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "CHARGENET_FAST_PASSWORD_HASHING"}}
    clean.update(env)
    code = (
        "import django, json; django.setup(); from django.conf import settings as s;"
        "print(json.dumps([s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'],"
        " s.CELERY_TASK_ALWAYS_EAGER, s.CELERY_BROKER_URL]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, "DJANGO_SETTINGS_MODULE": "chargenet.settings"},
        capture_output=True, text=True, timeout=60,
    )


def test_embedded_defaults_without_environment():
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        '["django.db.backends.sqlite3", "channels.layers.InMemoryChannelLayer", true, "memory://"]'
    )


def test_urls_switch_to_postgresql_redis_and_a_real_broker():
    result = load_settings(DATABASE_URL="postgres://postgres@127.0.0.1:5432/x", REDIS_URL="redis://127.0.0.1:6379/3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        '["django.db.backends.postgresql", "channels_redis.core.RedisChannelLayer", false, "redis://127.0.0.1:6379/3"]'
    )


def test_refuses_production_mode_with_the_development_key():
    result = load_settings(DEBUG="false")
    assert result.returncode != 0
    assert "Refusing to start with DEBUG=false and the development SECRET_KEY" in result.stderr


def test_production_mode_starts_with_a_real_key():
    result = load_settings(DEBUG="false", SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr


def test_the_tests_fast_password_hasher_is_refused_in_production_mode():
    result = load_settings(DEBUG="false", SECRET_KEY="x" * 50, CHARGENET_FAST_PASSWORD_HASHING="1")
    assert result.returncode != 0
    assert "CHARGENET_FAST_PASSWORD_HASHING is for tests" in result.stderr


@pytest.mark.django_db
def test_the_running_suite_uses_the_services_it_was_given():
    """In CI's second run a missing PostgreSQL or Redis must fail, never fall back to embedded."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    if services_required():
        assert connection.vendor == "postgresql"
        assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    else:
        assert connection.vendor == ("postgresql" if os.environ.get("DATABASE_URL") else "sqlite")
