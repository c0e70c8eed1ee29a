"""Is this id token allowed to charge? One answer for 1.6 idTags and 2.0.1 idTokens."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from stations.models import IdToken, IdTokenStatus, IdTokenType


@dataclass(frozen=True)
class Authorization:
    status: str  # Accepted | Blocked | Expired | Invalid (IdTokenStatus)
    token: IdToken | None = None
    expires_at: datetime | None = None
    group_id: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == IdTokenStatus.ACCEPTED


def authorize(*, value: str, type: str | None = None) -> Authorization:
    """Unknown, blocked, expired or invalid tokens are never Accepted."""
    if type == IdTokenType.NO_AUTHORIZATION:
        # The station charges without identification (free vend); nothing to look up.
        return Authorization(status=IdTokenStatus.ACCEPTED)
    token = IdToken.objects.filter(value=value).select_related("driver", "car").first()
    external = _external_answer(value=value, type=type, token=token)
    if external is not None:
        return external
    if token is None:
        return Authorization(status=IdTokenStatus.INVALID)
    if token.status != IdTokenStatus.ACCEPTED:
        return Authorization(status=token.status, token=token, group_id=token.group_id)
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return Authorization(status=IdTokenStatus.EXPIRED, token=token, expires_at=token.expires_at,
                             group_id=token.group_id)
    return Authorization(status=IdTokenStatus.ACCEPTED, token=token, expires_at=token.expires_at,
                         group_id=token.group_id)


def _external_answer(*, value: str, type: str | None, token: IdToken | None) -> Authorization | None:
    """Ask settings.CHARGENET_EXTERNAL_AUTHORIZER (a dotted path; roaming's real-time
    authorization) about this token. None: no opinion, the local answer stands. It must
    answer within its own time limit and never raise; if it does, the local answer stands."""
    path = getattr(settings, "CHARGENET_EXTERNAL_AUTHORIZER", "")
    if not path:
        return None
    try:
        return import_string(path)(value=value, type=type, token=token)
    except Exception:
        import logging

        logging.getLogger(__name__).exception("external authorizer %s failed for %s", path, value)
        return None
