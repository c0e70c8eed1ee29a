"""/api/v1/vehicles/: cars registered for Plug & Charge.

Operators manage every vehicle. A driver registers and removes their own cars (the PCID is
printed in the car's menu or papers); the driver field is then always themselves. Site
owners see none. The eMAID is assigned at the first contract installation and read-only.
Each vehicle is one of the driver's cars (``car``, /api/v1/cars/: V2X permission, minimum
charge): given on creation, or a new car named after the vehicle.
"""

from rest_framework import permissions, serializers, viewsets
from rest_framework.exceptions import PermissionDenied

from pki.models import Vehicle
from pki.services.vehicles import VehicleError, contract_charges_car, normalize_pcid, register_vehicle
from stations.models import Car, Driver
from stations.selectors import is_operator


class VehicleSerializer(serializers.ModelSerializer):
    driver = serializers.PrimaryKeyRelatedField(queryset=Driver.objects.all(), required=False)
    driver_email = serializers.EmailField(source="driver.email", read_only=True)
    car = serializers.PrimaryKeyRelatedField(queryset=Car.objects.all(), required=False,
                                             help_text="the driver's car; default: a new one named after the vehicle")

    class Meta:
        model = Vehicle
        fields = ["id", "pcid", "name", "driver", "driver_email", "car", "emaid", "active", "last_provisioned_at",
                  "created_at"]
        read_only_fields = ["emaid", "last_provisioned_at", "created_at"]

    def validate_pcid(self, value: str) -> str:
        try:
            return normalize_pcid(value)
        except VehicleError as error:
            raise serializers.ValidationError(str(error)) from None


class VehiclePermission(permissions.BasePermission):
    message = "Only operators and drivers manage vehicles."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (is_operator(user) or getattr(user, "driver", None)))


class VehicleViewSet(viewsets.ModelViewSet):
    serializer_class = VehicleSerializer
    permission_classes = [VehiclePermission]
    filterset_fields = ["driver", "active", "pcid", "emaid"]

    def get_queryset(self):
        vehicles = Vehicle.objects.select_related("driver").order_by("pcid")
        if is_operator(self.request.user):
            return vehicles
        driver = getattr(self.request.user, "driver", None)  # None while the schema is generated
        return vehicles.filter(driver=driver) if driver is not None else vehicles.none()

    def _driver_for(self, serializer) -> Driver:
        if is_operator(self.request.user):
            driver = serializer.validated_data.get("driver")
            if driver is None and serializer.instance is None:
                raise serializers.ValidationError({"driver": "required"})
            return driver or serializer.instance.driver
        chosen = serializer.validated_data.get("driver")
        if chosen is not None and chosen != self.request.user.driver:
            raise PermissionDenied("A driver registers vehicles for themselves only.")
        return self.request.user.driver

    def _car_for(self, serializer, driver: Driver) -> Car | None:
        car = serializer.validated_data.get("car")
        if car is not None and car.driver_id != driver.pk:
            raise serializers.ValidationError({"car": "one of the vehicle's driver's cars"})
        if car is not None and Vehicle.objects.filter(car=car).exclude(
                pk=getattr(serializer.instance, "pk", None)).exists():
            raise serializers.ValidationError({"car": "registered for Plug & Charge already"})
        return car

    def perform_create(self, serializer):
        driver = self._driver_for(serializer)
        data = serializer.validated_data
        try:
            vehicle = register_vehicle(driver=driver, pcid=data["pcid"], name=data.get("name", ""),
                                       car=self._car_for(serializer, driver))
        except VehicleError as error:
            raise serializers.ValidationError({"pcid": str(error)}) from None
        if data.get("active") is False:
            vehicle.active = False
            vehicle.save(update_fields=["active"])
        serializer.instance = vehicle

    def perform_update(self, serializer):
        driver = self._driver_for(serializer)
        car = self._car_for(serializer, driver)
        if car is None and serializer.instance.car.driver_id != driver.pk:
            raise serializers.ValidationError({"car": "a car of the new driver is required"})
        vehicle = serializer.save(driver=driver, **({"car": car} if car is not None else {}))
        contract_charges_car(vehicle=vehicle)
