from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "backend.web"
    label = "web"

    def ready(self) -> None:
        from .multipart import install_header_repair
        from .tempfiles import temp_uploads_clean_now_and_then

        install_header_repair()  # uploads through the pages and the API alike
        temp_uploads_clean_now_and_then()  # what a web process killed mid-upload left behind
