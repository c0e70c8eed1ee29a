from celery import shared_task

from pki.services.renewal import request_renewals


@shared_task(name="pki.renew_expiring_certificates")
def renew_expiring_certificates() -> dict:
    """Celery beat: ask stations whose certificates expire soon for new CSRs."""
    report = request_renewals()
    return {"asked": report.asked, "failed": report.failed}
