"""Tell a user's open sockets when what they may see changes, whoever changed it.

Caught by Django's signals, like the configuration history, so a change in the admin, a
command or any code is heard alike: a user deactivated or deleted gets `access.ended`
(their sockets close, 4401); any other change of the user (the superuser flag, the password)
and a plant's members losing them get `access.changed` (each socket checks its screen again
at once). Sent after the commit; hmi.socket_access does the closing.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models.signals import m2m_changed, post_delete, post_save

from plant import live
from plant.models import Plant


def connect() -> None:
    post_save.connect(user_saved, sender=User, dispatch_uid="plant.access_signals.saved")
    post_delete.connect(user_deleted, sender=User, dispatch_uid="plant.access_signals.deleted")
    m2m_changed.connect(
        members_changed, sender=Plant.members.through, dispatch_uid="plant.access_signals.m2m"
    )


def user_saved(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    fields = kwargs.get("update_fields")
    if created or (fields is not None and set(fields) <= {"last_login"}):
        return  # a login touches last_login: nothing anyone may see has changed
    message = live.access_changed() if instance.is_active else live.access_ended()
    live.send_on_commit([live.user_group(instance.pk)], message)


def user_deleted(sender: Any, instance: User, **kwargs: Any) -> None:
    live.send_on_commit([live.user_group(instance.pk)], live.access_ended())


def members_changed(
    sender: Any, instance: Plant | User, action: str, reverse: bool,  # reverse: a User
    pk_set: set[int] | None, **kwargs: Any,
) -> None:  # fmt: skip
    """A plant lost members (or a user lost plants): their sockets check again."""
    if action == "pre_clear":
        # The members are gone by post_clear, which names none of them.
        if isinstance(instance, Plant):
            users = list(instance.members.values_list("pk", flat=True))
        else:
            users = [instance.pk]
    elif action == "post_remove":
        users = sorted(pk_set or ()) if isinstance(instance, Plant) else [instance.pk]
    else:
        return
    if users:
        live.send_on_commit([live.user_group(pk) for pk in users], live.access_changed())
