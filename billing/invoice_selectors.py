"""Who may see which invoices, their PDFs and the finance exports.

Operators (``stations.selectors.is_operator``) and members of the ``Finance`` group see every
invoice, download any PDF and pull the exports; a driver sees only their own invoices (another
customer's invoice is a 404, not a 403: its existence is not disclosed); site owners and
everyone else see none and may not export. The Finance group needs no permissions of its own:
add a user to a group named ``Finance`` (``finance_group()`` creates it where it is missing)
and mark them staff for the admin.
"""

from django.contrib.auth.models import Group
from django.db.models import Prefetch, QuerySet

from billing.models import Invoice, InvoiceLine
from stations.selectors import is_operator

FINANCE_GROUP = "Finance"


def finance_group() -> Group:
    return Group.objects.get_or_create(name=FINANCE_GROUP)[0]


def is_finance(user) -> bool:
    """Operators and the Finance group: every invoice, every export."""
    if not user or not user.is_authenticated:
        return False
    return is_operator(user) or user.groups.filter(name=FINANCE_GROUP).exists()


def can_export_invoices(user) -> bool:
    return is_finance(user)


def invoices_visible_to(user) -> QuerySet[Invoice]:
    invoices = Invoice.objects.select_related("credits", "series")
    if is_finance(user):
        return invoices
    driver = getattr(user, "driver", None) if user and user.is_authenticated else None
    if driver is None:
        return invoices.none()
    return invoices.filter(driver=driver)


def with_lines(invoices: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Invoices with their lines and each line's CDR, in two more queries per page."""
    return invoices.prefetch_related(
        Prefetch("lines", queryset=InvoiceLine.objects.select_related("cdr").order_by("id"))
    )
