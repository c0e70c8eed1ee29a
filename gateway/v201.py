"""OCPP 2.0.1: the shared 2.x handlers (``gateway.ocpp2``) on the package's 2.0.1 ChargePoint."""

from ocpp.v201 import ChargePoint

from gateway.ocpp2 import Ocpp2Handlers


class StationHandler201(Ocpp2Handlers, ChargePoint):
    pass
