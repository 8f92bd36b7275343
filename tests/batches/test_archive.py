"""The ZIP is written straight into storage as it is built: a worker with no disk to spare builds it all
the same, and the archive is whole."""

import errno
import io
import tempfile
import zipfile

import pytest

from backend.batches import archive, processing
from backend.batches.models import Batch
from tests.helpers import batch_of, download_zip, encode, noisy_image

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("where", ["local", pytest.param("s3", marks=pytest.mark.s3)])
def test_the_zip_is_built_without_any_local_disk(where, published, monkeypatch, client):
    photos = {f"p{i}.png": encode(noisy_image((300, 200), seed=i), "PNG") for i in range(3)}
    batch = batch_of(photos, [{"processor": "convert", "options": {"format": "PNG"}}])
    for file in batch.files.all():
        processing.file_process(str(file.pk))

    def no_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, no_disk)
    archive.archive_build(str(batch.pk))
    monkeypatch.undo()
    batch = Batch.objects.get(pk=batch.pk)
    assert batch.status == "ready"
    zipped = download_zip(client, str(batch.pk))
    assert sorted(zipped.namelist()) == sorted(photos) and zipped.testzip() is None
    assert batch.archive_size == len(_archive_bytes(zipped))


def _archive_bytes(zipped: zipfile.ZipFile) -> bytes:
    zipped.fp.seek(0)
    return zipped.fp.read() if isinstance(zipped.fp, io.BytesIO) else open(zipped.filename, "rb").read()


def test_a_result_that_does_not_fit_on_the_workers_disk_says_so(tmp_path, monkeypatch):
    from PIL import Image

    from backend.processors.base import ProcessingError
    from backend.processors.imaging import run_image_chain
    from backend.processors.transform import ConvertFormat

    source = tmp_path / "a.png"
    source.write_bytes(encode(noisy_image((64, 64)), "PNG"))

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(ProcessingError, match="ran out of disk space"):
        run_image_chain([(ConvertFormat(), {"format": "TIFF"})], source, tmp_path, lambda _: None)
