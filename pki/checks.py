"""Deployment check: production mode needs a key-encryption key for CA private keys."""

from django.conf import settings
from django.core.checks import Error, register


@register("security")
def key_encryption_key_configured(app_configs, **kwargs):
    if settings.PKI_DEVELOPMENT_KEY_ALLOWED or settings.PKI_KEY_ENCRYPTION_KEY:
        return []
    return [Error(
        "PKI_KEY_ENCRYPTION_KEY is not set and DEBUG=false: CA private keys cannot be sealed or opened.",
        hint="Set PKI_KEY_ENCRYPTION_KEY to a long random value and keep it safe.",
        id="pki.E001",
    )]
