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
