from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

app_name = "api"
urlpatterns = [
    path("v1/processors", views.ProcessorList.as_view(), name="processors"),
    path("v1/presets", views.PresetList.as_view(), name="presets"),
    path("v1/batches", views.BatchCollection.as_view(), name="batches"),
    path("v1/batches/<uuid:batch_id>", views.BatchDetail.as_view(), name="batch"),
    path("v1/batches/<uuid:batch_id>/cancel", views.BatchCancel.as_view(), name="batch-cancel"),
    path("v1/stats", views.Stats.as_view(), name="stats"),
    path("v1/uploads", views.UploadCollection.as_view(), name="uploads"),
    path("v1/uploads/<uuid:upload_id>", views.UploadDetail.as_view(), name="upload"),
    path("v1/uploads/<uuid:upload_id>/parts", views.UploadParts.as_view(), name="upload-parts"),
    path("v1/uploads/<uuid:upload_id>/complete", views.UploadComplete.as_view(), name="upload-complete"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^(?P<path>.*)$", views.not_found, name="not-found"),
]
