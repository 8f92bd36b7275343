"""The admin site: Django's own, plus a page listing every processing type and why any is unavailable."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from backend.processors import registry


class MediaconvAdminSite(admin.AdminSite):
    site_header = "Media conversion: administration"
    site_title = "Media conversion"

    def get_urls(self) -> list[URLPattern]:
        return [path("processors/", self.admin_view(self.processors_view), name="processors"), *super().get_urls()]

    def processors_view(self, request: HttpRequest) -> HttpResponse:
        rows = [
            {"cls": cls, "module": cls.__module__, "reason": cls.unavailable_reason(),
             "options": list(cls.Options.base_fields)}
            for cls in registry.all()
        ]
        context = {**self.each_context(request), "title": "Processing types", "rows": rows}
        return TemplateResponse(request, "admin/processors.html", context)

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        if app_label is None and request.user.is_staff:
            apps.append({
                "name": "Processing", "app_label": "processing", "app_url": reverse("admin:processors"),
                "has_module_perms": True,
                "models": [{"name": "Processing types", "object_name": "Processor", "view_only": True,
                            "admin_url": reverse("admin:processors"), "add_url": None, "perms": {"view": True}}],
            })
        return apps
