"""/api/v1/cars/: a driver's cars, their V2X permission and minimum charge, and the tokens
that charge each one.

Operators see and change every car. A driver sees, adds, changes and removes their own
(the driver field is then always themselves; ``id_tokens`` only of their own tokens). Site
owners and finance see none: a car's settings are its driver's business. Writes go through
``stations.services.cars`` (the sites where the car charges are re-balanced at once).
"""

from django.db import transaction
from rest_framework import permissions, serializers, viewsets
from rest_framework.exceptions import PermissionDenied

from stations.models import Car, Driver, IdToken
from stations.selectors import cars_visible_to, is_operator
from stations.services.cars import UNSET, CarError, create_car, set_car_tokens, update_car

SETTINGS = ["name", "allow_discharge", "min_soc_percent", "min_energy_kwh", "battery_capacity_kwh"]


class CarSerializer(serializers.ModelSerializer):
    driver = serializers.PrimaryKeyRelatedField(queryset=Driver.objects.all(), required=False)
    driver_email = serializers.EmailField(source="driver.email", read_only=True)
    id_tokens = serializers.PrimaryKeyRelatedField(
        queryset=IdToken.objects.all(), many=True, required=False,
        help_text="the driver's tokens that charge this car (replaces the list; others of the driver leave it)",
    )

    class Meta:
        model = Car
        fields = ["id", "driver", "driver_email", "name", "allow_discharge", "min_soc_percent", "min_energy_kwh",
                  "battery_capacity_kwh", "id_tokens", "created_at"]
        read_only_fields = ["created_at"]


class CarPermission(permissions.BasePermission):
    message = "Only operators and drivers manage cars."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (is_operator(user) or getattr(user, "driver", None)))


class CarViewSet(viewsets.ModelViewSet):
    serializer_class = CarSerializer
    permission_classes = [CarPermission]
    filterset_fields = ["driver", "allow_discharge"]

    def get_queryset(self):
        return cars_visible_to(self.request.user).prefetch_related("id_tokens").order_by("driver__email", "name", "pk")

    def _driver_for(self, serializer) -> Driver:
        chosen = serializer.validated_data.get("driver")
        if is_operator(self.request.user):
            if chosen is None and serializer.instance is None:
                raise serializers.ValidationError({"driver": "required"})
            if chosen is not None and serializer.instance is not None and chosen != serializer.instance.driver:
                raise serializers.ValidationError({"driver": "a car stays with its driver"})
            return chosen or serializer.instance.driver
        if chosen is not None and chosen != self.request.user.driver:
            raise PermissionDenied("A driver manages their own cars only.")
        return self.request.user.driver

    @transaction.atomic
    def _save(self, serializer, car: Car | None) -> Car:
        driver = self._driver_for(serializer)
        data = serializer.validated_data
        tokens = data.get("id_tokens")
        if tokens is not None and any(t.driver_id != driver.pk for t in tokens):
            raise serializers.ValidationError({"id_tokens": "tokens of the car's driver only"})
        try:
            if car is None:
                car = create_car(driver=driver, **{k: data[k] for k in SETTINGS if k in data})
            else:
                car = update_car(car=car, **{k: data.get(k, UNSET) for k in SETTINGS})
            if tokens is not None:
                set_car_tokens(car=car, chosen=tokens, offered=list(driver.id_tokens.all()))
        except CarError as error:
            raise serializers.ValidationError({"detail": str(error)}) from None
        return car

    def perform_create(self, serializer):
        serializer.instance = self._save(serializer, None)

    def perform_update(self, serializer):
        serializer.instance = self._save(serializer, serializer.instance)
