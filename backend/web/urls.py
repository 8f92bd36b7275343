from django.conf import settings
from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from . import views

app_name = "web"
FILES = settings.LOCAL_FILES_URL.lstrip("/")
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
    # Local storage's stand-ins for S3's presigned links (`make run`): downloads, and part PUTs of
    # uploads in parts. On S3 every link goes to the bucket and these answer 403.
    path(f"{FILES}parts/<str:token>", views.stored_part, name="stored-part"),
    path(f"{FILES}<str:token>", views.stored_object, name="stored-object"),
]
