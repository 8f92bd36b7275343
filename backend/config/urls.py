from django.contrib import admin
from django.urls import include, path
from django.views.decorators.cache import cache_page
from django.views.i18n import JavaScriptCatalog

from backend.ops import metrics

urlpatterns = [
    path("metrics", metrics.metrics, name="metrics"),
    path("api/", include("backend.api.urls")),
    path("admin/", admin.site.urls),
    # The language switcher posts here; the pages' scripts read their strings from jsi18n.
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", cache_page(3600)(JavaScriptCatalog.as_view(packages=["backend.web"])), name="jsi18n"),
    path("", include("backend.web.urls")),
]

handler400 = "backend.web.views.bad_request"
handler403 = "backend.web.views.forbidden"
handler404 = "backend.web.views.not_found"
handler500 = "backend.web.views.server_error"
