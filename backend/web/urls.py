from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from . import views

app_name = "web"
urlpatterns = [
    path("", views.upload, name="upload"),
    # Browsers ask for /favicon.ico whatever the page links; send them to the icon instead of a 404.
    path("favicon.ico", RedirectView.as_view(url=static("web/favicon.svg"), permanent=True), name="favicon"),
    path("b/<uuid:batch_id>/", views.batch_page, name="batch"),
    path("b/<uuid:batch_id>/status.json", views.batch_status_json, name="status"),
    path("b/<uuid:batch_id>/download", views.download, name="download"),
    path("b/<uuid:batch_id>/cancel", views.cancel, name="cancel"),
    path("b/<uuid:batch_id>/errors.txt", views.errors_report, name="errors"),
    path("b/<uuid:batch_id>/r/<uuid:file_id>/<int:index>", views.result, name="result"),
    path("b/<uuid:batch_id>/p/<uuid:file_id>.webp", views.preview, name="preview"),
    # Local storage's stand-in for S3's signed part PUTs (uploads in parts, `make run`).
    path("uploads/<uuid:upload_id>/parts/<int:number>", views.upload_part, name="upload-part"),
]
