from django.contrib.admin.apps import AdminConfig


class MediaconvAdminConfig(AdminConfig):
    """The stock admin, with a site that also lists the processing types."""

    default_site = "backend.processors.admin_site.MediaconvAdminSite"
