"""The smart-charging commands, registered into the command catalog at app start."""

from stations.commands.catalog import CommandSpec, register
from stations.smart_charging import dynamic, profiles, v2x


def register_commands() -> None:
    for spec in [
        CommandSpec(
            "set_charging_profile",
            profiles.SetChargingProfileParams,
            profiles.set_charging_profile,
            "SetChargingProfile (station maximum, TxDefault or Tx profile; 2.1: setpoints, discharge)",
            prepare=profiles.prepare_set,
            on_answer=profiles.answered_set,
        ),
        CommandSpec(
            "update_dynamic_schedule",
            dynamic.UpdateDynamicScheduleParams,
            dynamic.update_dynamic_schedule,
            "2.1 UpdateDynamicSchedule: new limit / setpoint / discharge limit for a Dynamic profile the station holds",
            prepare=dynamic.prepare_update,
            on_answer=dynamic.answered_update,
        ),
        CommandSpec(
            "clear_charging_profile",
            profiles.ClearChargingProfileParams,
            profiles.clear_charging_profile,
            "ClearChargingProfile (by id or by EVSE, purpose, stack level)",
            on_answer=profiles.answered_clear,
        ),
        CommandSpec(
            "get_composite_schedule",
            profiles.GetCompositeScheduleParams,
            profiles.get_composite_schedule,
            "GetCompositeSchedule: what the EVSE may draw over the next duration_s",
        ),
        CommandSpec(
            "get_charging_profiles",
            profiles.GetChargingProfilesParams,
            profiles.get_charging_profiles,
            "2.0.1 GetChargingProfiles: the station reports them (ReportChargingProfiles)",
            prepare=profiles.prepare_get_profiles,
        ),
        CommandSpec(
            "notify_allowed_energy_transfer",
            v2x.AllowedEnergyTransferParams,
            v2x.notify_allowed_energy_transfer,
            "2.1 NotifyAllowedEnergyTransfer: the energy transfer modes (e.g. AC_BPT) allowed for a transaction",
            on_answer=v2x.answered_allowed_energy_transfer,
        ),
        CommandSpec(
            "afrr_signal",
            v2x.AFRRSignalParams,
            v2x.afrr_signal,
            "2.1 AFRRSignal: a frequency restoration signal, passed to the station as it is",
        ),
        CommandSpec("use_priority_charging", v2x.UsePriorityChargingParams, v2x.use_priority_charging,
                    "2.1 UsePriorityCharging: serve a transaction first (the allocator's priority)",
                    on_answer=v2x.answered_priority_charging),
        CommandSpec("set_der_control", v2x.SetDERControlParams, v2x.set_der_control,
                    "2.1 SetDERControl: a DER control (curve, power factor, limits) for the station's inverter"),
        CommandSpec("get_der_control", v2x.GetDERControlParams, v2x.get_der_control,
                    "2.1 GetDERControl: the station reports its DER controls (ReportDERControl, recorded)",
                    prepare=v2x.prepare_get_der_control),
        CommandSpec("clear_der_control", v2x.ClearDERControlParams, v2x.clear_der_control, "2.1 ClearDERControl"),
    ]:
        register(spec)
