"""The move of V2X permission from drivers to cars (stations 0013, pki 0003): a driver who had
allowed discharge keeps it on every token (a car "My car", or the car of each Plug & Charge
vehicle with its contract); a driver who had not gets cars that only charge."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("stations", "0012_driver_postal_address"), ("pki", "0002_cps_signer_and_vehicles")]
AFTER = [("stations", "0013_car_discharge_permission"), ("pki", "0004_vehicle_car_required")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_drivers_permission_moves_to_their_cars_and_vehicles_become_cars():
    old = migrate(BEFORE)
    Driver, IdToken, Vehicle = (old.get_model("stations", "Driver"), old.get_model("stations", "IdToken"),
                                old.get_model("pki", "Vehicle"))
    keen = Driver.objects.create(email="keen@example.com", allow_discharge=True)
    careful = Driver.objects.create(email="careful@example.com", allow_discharge=False)
    pnc_only = Driver.objects.create(email="pnc@example.com", allow_discharge=True)
    IdToken.objects.create(value="KEEN-CARD", driver=keen)
    IdToken.objects.create(value="KEEN-EMAID", type="eMAID", driver=keen)
    IdToken.objects.create(value="CAREFUL-CARD", driver=careful)
    IdToken.objects.create(value="PNC-EMAID", type="eMAID", driver=pnc_only)
    Vehicle.objects.create(pcid="WMIV1234567890ABC", driver=keen, name="Blue car", emaid="KEEN-EMAID")
    Vehicle.objects.create(pcid="WMIV1234567890ABD", driver=careful)
    Vehicle.objects.create(pcid="WMIV1234567890ABE", driver=pnc_only, emaid="PNC-EMAID")

    try:
        new = migrate(AFTER)
        Car, IdToken, Vehicle = (new.get_model("stations", "Car"), new.get_model("stations", "IdToken"),
                                 new.get_model("pki", "Vehicle"))
        car_of = {t.value: t.car for t in IdToken.objects.select_related("car")}
        assert car_of["KEEN-CARD"].name == "My car" and car_of["KEEN-CARD"].allow_discharge
        assert car_of["KEEN-EMAID"].name == "Blue car" and car_of["KEEN-EMAID"].allow_discharge
        assert Vehicle.objects.get(pcid="WMIV1234567890ABC").car == car_of["KEEN-EMAID"]
        assert car_of["CAREFUL-CARD"] is None  # never discharged, still does not
        careful_car = Vehicle.objects.get(pcid="WMIV1234567890ABD").car
        assert careful_car.name == "WMIV1234567890ABD" and not careful_car.allow_discharge
        # Every token of pnc@ went to its vehicle's car: no empty "My car" left beside it.
        assert car_of["PNC-EMAID"].allow_discharge
        assert list(Car.objects.filter(driver__email="pnc@example.com").values_list("name", flat=True)) == [
            "WMIV1234567890ABE"]
        assert not Car.objects.filter(driver__email="careful@example.com", allow_discharge=True).exists()
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
