from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "backend.web"
    label = "web"

    def ready(self) -> None:
        from backend.web.multipart import install_header_repair

        install_header_repair()  # uploads through the pages and the API alike
