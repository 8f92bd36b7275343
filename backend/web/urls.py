from django.urls import path

from . import views

app_name = "web"
urlpatterns = [
    path("", views.upload, name="upload"),
    path("b/<uuid:batch_id>/", views.batch_page, name="batch"),
    path("b/<uuid:batch_id>/status.json", views.batch_status_json, name="status"),
    path("b/<uuid:batch_id>/download", views.download, name="download"),
    path("b/<uuid:batch_id>/cancel", views.cancel, name="cancel"),
]
