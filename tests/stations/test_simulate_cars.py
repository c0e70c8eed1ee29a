"""``simulate --bidirectional`` gives its cards cars that may discharge (permission is per car),
and leaves alone a car a user set up."""

import pytest

from stations.management.commands.simulate import fleet_members, give_cars, prepare_fleet
from stations.models import Car, IdToken
from stations.services.cars import create_car, set_car_tokens

pytestmark = pytest.mark.django_db


def test_each_simulated_card_without_a_car_gets_one_that_may_discharge():
    members = fleet_members("V2G-", 3)
    prepare_fleet(members)
    kept = IdToken.objects.get(value=members[0].id_token)
    careful = create_car(driver=kept.driver, name="Commuter", allow_discharge=False)
    set_car_tokens(car=careful, chosen=[kept], offered=[kept])

    assert give_cars(members, battery_kwh=75) == 2
    cars = {t.value: t.car for t in IdToken.objects.filter(value__in=[m.id_token for m in members])}
    assert cars[members[0].id_token] == careful and not careful.allow_discharge
    for member in members[1:]:
        car = cars[member.id_token]
        assert car.allow_discharge and car.battery_capacity_kwh == 75
        assert car.driver == IdToken.objects.get(value=member.id_token).driver
    assert give_cars(members, battery_kwh=75) == 0  # a second run makes none
    assert Car.objects.count() == 3
