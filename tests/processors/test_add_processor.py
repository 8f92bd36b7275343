"""The administrator's path: one subclass, defined here and nowhere else, shows up and runs.

`AddBorder` below is the worked example of docs/processors.md. Nothing in
backend/ names it: the test process registers it by importing this module, and
the worker process by the PROCESSOR_MODULES setting, as an operator would.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image, ImageOps

from backend.processors import Processor, Progress, registry
from tests.helpers import download_zip, encode, noisy_image, wait_for_batch


class AddBorder(Processor):
    name = "test_add_border"
    label = "Add a border (example)"
    description = "Frames the image with a solid border of the chosen width and colour; writes PNG."
    accepts = ("image/jpeg", "image/png", "image/webp")
    order = 900

    class Options(forms.Form):
        width = forms.IntegerField(label="Border width (pixels)", min_value=1, max_value=200, initial=12)
        colour = forms.RegexField(regex=r"^#[0-9a-fA-F]{6}$", initial="#202020",
                                  error_messages={"invalid": "Enter a colour as #rrggbb."})

    def edit(self, source: Path, target_dir: Path, options: dict, progress: Progress) -> list[Path]:
        target = target_dir / f"{source.stem}-framed.png"
        with Image.open(source) as image:
            framed = ImageOps.expand(image.convert("RGB"), border=options["width"], fill=options["colour"])
        framed.save(target, "PNG")
        progress(1.0)
        return [target]


def form_data(**options: str) -> dict:
    return {"processor": AddBorder.name, **{f"{AddBorder.name}-{key}": value for key, value in options.items()}}


@pytest.mark.django_db
def test_the_new_processor_is_in_the_form_and_the_admin_list(client, admin_client):
    page = client.get("/").content.decode()
    assert "Add a border (example)" in page and f'name="{AddBorder.name}-width"' in page
    assert 'value="12"' in page, "its defaults are the form's initial values"
    assert "Add a border (example)" in admin_client.get("/admin/processors/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(("options", "message"), [
    ({"width": "0", "colour": "#ffffff"}, "greater than or equal to 1"),
    ({"width": "wide", "colour": "#ffffff"}, "Enter a whole number"),
    ({"width": "5", "colour": "blue"}, "Enter a colour as #rrggbb."),
])
def test_the_new_processor_validates_its_options(client, options, message):
    files = [SimpleUploadedFile("a.png", encode(noisy_image((40, 30)), "PNG"))]
    response = client.post("/", {**form_data(**options), "files": files})
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page and "Check the options of “Add a border (example)”" in page


@pytest.mark.integration
def test_the_new_processor_runs_on_a_real_worker(processes):
    assert registry.get(AddBorder.name) is AddBorder
    processes.start("worker", "--concurrency", "1", PROCESSOR_MODULES=__name__)
    client = Client()
    photo = noisy_image((160, 120))
    files = [SimpleUploadedFile("shot.jpg", encode(photo, "JPEG", quality=95))]
    response = client.post("/", {**form_data(width="20", colour="#ff0000"), "files": files})
    assert response.status_code == 302, response.content.decode()[:1500]
    batch_id = response["Location"].strip("/").split("/")[-1]
    batch = wait_for_batch(batch_id)
    assert (batch.status, batch.done_count) == ("ready", 1), list(batch.files.values_list("error", flat=True))
    archive = download_zip(client, batch_id)
    assert archive.namelist() == ["shot-framed.png"]
    result = Image.open(io.BytesIO(archive.read("shot-framed.png")))
    assert result.format == "PNG" and result.size == (200, 160)
    assert result.getpixel((5, 5)) == (255, 0, 0) and result.getpixel((195, 155)) == (255, 0, 0)
    assert result.getpixel((100, 80)) != (255, 0, 0), "the picture itself is inside the frame"
