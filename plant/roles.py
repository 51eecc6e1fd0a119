"""The four roles of the HMI and what each may do, as Django groups of permissions.

A role includes everything of the roles before it. Migrations call `sync_roles`, so a new
permission added here reaches every database on the next `migrate`.
"""

from __future__ import annotations

from typing import Any

VIEW = [
    "plant.view_plant",
    "plant.view_line",
    "plant.view_machine",
    "plant.view_tag",
    "plant.view_setpointwrite",  # the audit trail of writes
    "plant.view_controlloop",
    "plant.view_alarm",  # everyone sees alarms; only supervisors acknowledge and shelve
    "plant.view_alarmjournalentry",
    "plant.view_alarmdefinition",
    "plant.view_shift",  # the shift calendar, which every OEE figure is measured against
    "plant.view_shiftbreak",
    "plant.view_planneddowntime",
]
OPERATE = ["plant.write_setpoint", "plant.tag_stop"]  # tag_stop: a stop's first reason
SUPERVISE = [
    "plant.acknowledge_alarm",
    "plant.shelve_alarm",
    "plant.view_configchange",  # the configuration history (/audit/configuration/)
    "plant.retag_stop",  # change the reason someone gave a stop (OEE)
]
CONFIGURE = [
    f"plant.{action}_{model}"
    for model in ("plant", "line", "machine", "tag")
    for action in ("add", "change", "delete")
] + [
    "plant.view_rejectedmessage",
    "plant.view_unknowntopic",
    "plant.delete_unknowntopic",
    "plant.add_controlloop",  # loops are configured (tuned) by admins, and never deleted
    "plant.change_controlloop",
    "plant.add_alarmdefinition",  # taken out of service (disabled), never deleted: the journal
    "plant.change_alarmdefinition",  # refers to them
    "plant.view_emergencyaction",
    "plant.add_emergencyaction",
    "plant.change_emergencyaction",
    "plant.delete_emergencyaction",
    "plant.view_systemalarm",  # the product's own faults, read-only in the admin
    "plant.view_workerheartbeat",
    "plant.view_securityevent",  # of their plants and their plants' people (/audit/security/)
    "plant.view_apitoken",  # their own tokens only (plant.admin): issued and revoked, not deleted
    "plant.add_apitoken",
    "plant.change_apitoken",
    # Devices' broker logins of their own plants (plant.broker_access writes the broker's files).
    "plant.view_deviceidentity",
    "plant.add_deviceidentity",
    "plant.change_deviceidentity",
    "plant.delete_deviceidentity",
    # Neuron gateways of their own plants, their south nodes, and the discovery review list
    # (accept, map, ignore: plant.discovery); the worker adds the signals, nobody deletes them.
    "plant.view_neurongateway",
    "plant.add_neurongateway",
    "plant.change_neurongateway",
    "plant.view_neurondevice",
    "plant.change_neurondevice",
    "plant.view_discoveredsignal",
    "plant.change_discoveredsignal",
    # The shift calendar of their own plants: shifts with their breaks, planned downtime.
    *[
        f"plant.{action}_{model}"
        for model in ("shift", "shiftbreak", "planneddowntime")
        for action in ("add", "change", "delete")
    ],
    # SPC settings of their plants' measured tags (specification limits, ℮, run rules).
    "plant.view_spcsettings",
    "plant.add_spcsettings",
    "plant.change_spcsettings",
    "plant.delete_spcsettings",
    # Alarm notifications of their own plants: rosters and their recipients, and the outbox
    # of deliveries (looked at, and a failed one sent again; the dispatcher writes them).
    "plant.view_notificationroster",
    "plant.add_notificationroster",
    "plant.change_notificationroster",
    "plant.delete_notificationroster",
    "plant.view_notificationrecipient",
    "plant.add_notificationrecipient",
    "plant.change_notificationrecipient",
    "plant.delete_notificationrecipient",
    "plant.view_notificationdelivery",
    # Vibration monitors: a tag's ISO 10816-3 class, from which its zone alarms are made.
    "plant.view_vibrationmonitor",
    "plant.add_vibrationmonitor",
    "plant.change_vibrationmonitor",
    "plant.delete_vibrationmonitor",
    # How OEE is measured on their machines, and the stop reasons operators may give (never
    # deleted: stops refer to them; withdrawn instead).
    "plant.view_oeemachine",
    *[
        f"plant.{action}_{model}"
        for model in ("oeemachine", "oeestate", "oeeproduct")
        for action in ("add", "change", "delete")
    ],
    "plant.view_stopreason",
    "plant.add_stopreason",
    "plant.change_stopreason",
    # Energy monitoring of their own plants: the demand contract and the meters.
    "plant.view_plantenergy",
    "plant.add_plantenergy",
    "plant.change_plantenergy",
    "plant.delete_plantenergy",
    "plant.view_energymeter",
    "plant.add_energymeter",
    "plant.change_energymeter",
    "plant.delete_energymeter",
    # Shift reports of their own plants: the mailing list and the key values.
    "plant.view_shiftreportsettings",
    "plant.add_shiftreportsettings",
    "plant.change_shiftreportsettings",
    "plant.delete_shiftreportsettings",
]

ROLES: dict[str, list[str]] = {
    "viewer": VIEW,
    "operator": VIEW + OPERATE,
    "supervisor": VIEW + OPERATE + SUPERVISE,
    "admin": VIEW + OPERATE + SUPERVISE + CONFIGURE,
}


def sync_roles(apps: Any, schema_editor: Any = None) -> None:
    """Create the groups and give each exactly its role's permissions (a migration step)."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations ran; create them now so the
    # groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, codenames in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = []
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            permission = permission_model.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            # The permissions of a model a later migration creates do not exist yet; that
            # migration runs this again and grants them.
            if permission is not None:
                wanted.append(permission)
        group.permissions.set(wanted)
