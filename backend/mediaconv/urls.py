from django.contrib import admin
from django.urls import include, path

from . import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("", include("backend.batches.urls")),
]

handler400 = "backend.batches.views.bad_request"
handler404 = "backend.batches.views.not_found"
handler500 = "backend.batches.views.server_error"
