from django.apps import AppConfig


class StationsConfig(AppConfig):
    name = "stations"
    verbose_name = "Charging network"

    def ready(self):
        import ocpp.messages

        # The ocpp package validates each message on an executor thread by default. The
        # validation itself holds the GIL (~0.4 ms); the two thread hops per message cost
        # more than they save and delay every other station's frames. Validate inline.
        ocpp.messages.ASYNC_VALIDATION = False

        from stations.smart_charging import (
            receivers,  # noqa: F401  (connects the load manager to the signals)
            tasks,  # noqa: F401  (Celery finds tasks of sub-packages only if imported)
        )
        from stations.smart_charging.commands import register_commands
        from stations.streams.commands import register_commands as register_stream_commands

        register_commands()
        register_stream_commands()
