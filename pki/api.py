"""/api/v1/vehicles/: cars registered for Plug & Charge.

Operators manage every vehicle. A driver registers and removes their own cars (the PCID is
printed in the car's menu or papers); the driver field is then always themselves. Site
owners see none. The eMAID is assigned at the first contract installation and read-only.
"""

from rest_framework import permissions, serializers, viewsets
from rest_framework.exceptions import PermissionDenied

from pki.models import Vehicle
from pki.services.vehicles import VehicleError, normalize_pcid
from stations.models import Driver
from stations.selectors import is_operator


class VehicleSerializer(serializers.ModelSerializer):
    driver = serializers.PrimaryKeyRelatedField(queryset=Driver.objects.all(), required=False)
    driver_email = serializers.EmailField(source="driver.email", read_only=True)

    class Meta:
        model = Vehicle
        fields = ["id", "pcid", "name", "driver", "driver_email", "emaid", "active", "last_provisioned_at",
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

    def perform_create(self, serializer):
        serializer.save(driver=self._driver_for(serializer))

    def perform_update(self, serializer):
        serializer.save(driver=self._driver_for(serializer))
