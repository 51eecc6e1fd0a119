"""Create the first superuser from ADMIN_USERNAME and ADMIN_PASSWORD (or ADMIN_PASSWORD_FILE).

compose.yaml's migrate runs this at every start: it creates the account while no superuser
exists and otherwise changes nothing, so a password changed since survives every restart
(unlike `load_demo`, which resets the demo users'). The password is never printed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the first superuser (ADMIN_USERNAME, ADMIN_PASSWORD_FILE) unless one exists."

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write("ensure_admin: a superuser exists; nothing changed")
            return
        username, password = settings.ADMIN_USERNAME, settings.ADMIN_PASSWORD
        if not password:
            raise CommandError(
                "No superuser yet: set ADMIN_PASSWORD_FILE (or ADMIN_PASSWORD) "
                "to the first one's password"
            )
        if users.objects.filter(username=username).exists():
            raise CommandError(
                f"{username!r} exists but is no superuser: set ADMIN_USERNAME "
                "to another name, or make it one in the admin"
            )
        try:
            validate_password(password, users(username=username))
        except ValidationError as error:
            raise CommandError(f"ADMIN_PASSWORD: {' '.join(error.messages)}") from None
        users.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(f"ensure_admin: superuser {username!r} created")
