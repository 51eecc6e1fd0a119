"""The bases of every admin page: what a page lets people do, said once.

A page names the rights it withholds by its bases, first, before the Django class it is:
    class AlarmJournalEntryAdmin(ReadOnly, PlantScopedAdmin): ...
    class SparkplugNodeAdmin(ReadOnly, SuperusersOnly, ModelAdmin): ...
- ReadOnly: journals and logs, rows only the product writes: looked at, never added, changed or
  deleted by hand (the journals' database triggers refuse it too; tests/hmi/test_admin_bases.py
  holds every journal's page to it).
- SystemWritten: rows the product writes that an admin may tidy away (rejected messages,
  unknown topics): never added or changed by hand, but deleted.
- NeverDeleted: rows others refer to or whose history matters: taken out of service instead.
- SuperusersOnly: pages of what belongs to no plant yet, seen and used by superusers alone.

django-stubs declares ModelAdmin, TabularInline and ModelForm generic, but Django's classes take
no subscript at runtime (django-stubs-ext, which would add one, is a dev-only dependency): the
aliases below are the generic classes for mypy and the plain ones at runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[Any]
    TabularInline = admin.TabularInline[Any, Any]
    ModelForm = forms.ModelForm[Any]
else:
    ModelAdmin = admin.ModelAdmin
    TabularInline = admin.TabularInline
    ModelForm = forms.ModelForm


def admin_user(request: HttpRequest) -> User:
    """The person behind an admin page: the admin site lets only its logged-in staff in."""
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied  # unreachable behind AdminSite.admin_view, which sends to login
    return user


class NeverDeleted:
    """Rows others refer to, or whose history matters: never deleted from the admin."""

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SystemWritten:
    """Rows only the product writes: never added or changed by hand (deleting is tidying)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnly(SystemWritten, NeverDeleted):
    """Journals and logs: looked at, never added, changed or deleted by hand."""


class SuperusersOnly:
    """Seen and used by superusers alone."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_superuser
