"""Our own contract certificates: issued from MO sub-CA 2, their eMAID registered as an id token."""

from datetime import timedelta

from django.db import transaction

from pki.models import CaRole, Certificate, CertificateKind
from pki.services.ca import issue_leaf, issuing_ca
from stations.models import IdTokenType
from stations.services.registry import register_id_token

EMAID_MAX_LENGTH = 36  # OCPP idToken length; ISO 15118 eMAIDs are 14 to 18 characters


@transaction.atomic
def issue_contract_certificate(
    *, emaid: str, public_key, driver_email: str | None = None, validity_days: int | None = None
) -> Certificate:
    """A contract certificate from our MO sub-CA 2 (CN = eMAID) and the eMAID as an id token."""
    if not emaid or len(emaid) > EMAID_MAX_LENGTH or not emaid.replace("-", "").replace("*", "").isalnum():
        raise ValueError(f"not an eMAID: {emaid!r}")
    certificate = issue_leaf(
        ca=issuing_ca(CaRole.MO_SUB_CA_2),
        kind=CertificateKind.CONTRACT,
        public_key=public_key,
        common_name=emaid,
        validity=timedelta(days=validity_days) if validity_days else None,
        emaid=emaid,
    )
    register_id_token(value=emaid, type=IdTokenType.EMAID, driver_email=driver_email)
    return certificate
