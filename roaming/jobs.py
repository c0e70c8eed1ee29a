"""Background jobs by name: the lower modules (outbox, commands, charging profiles) ask for
work to be done without importing the Celery tasks that do it (the tasks import them).

``roaming.tasks`` registers its tasks here when it is imported (RoamingConfig.ready)."""

from collections.abc import Callable

_runners: dict[str, Callable] = {}


def register(name: str, runner: Callable) -> None:
    _runners[name] = runner


def enqueue(name: str, *args) -> None:
    """Run job ``name`` in a worker (eagerly, here, without Redis)."""
    try:
        runner = _runners[name]
    except KeyError:
        raise LookupError(f"no roaming job {name!r}: is roaming.tasks imported (RoamingConfig.ready)?") from None
    runner(*args)
