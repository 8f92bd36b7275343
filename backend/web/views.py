"""The pages: thin views over the domain (intake, lifecycle, selectors) and the upload form."""

from __future__ import annotations

import logging
import mimetypes
from uuid import UUID

from django.conf import settings
from django.core.exceptions import SuspiciousOperation, TooManyFilesSent
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.defaults import permission_denied

from backend.api import errors as api_errors
from backend.api.serializers import batch_representation
from backend.api.throttling import BatchCreateThrottle
from backend.batches import storage
from backend.batches.archive import error_report
from backend.batches.intake import IntakeRefused, batch_intake
from backend.batches.lifecycle import batch_cancel
from backend.batches.models import Batch, BatchFile
from backend.web.multipart import upload_complete

from .forms import UploadForm

log = logging.getLogger(__name__)
INCOMPLETE = gettext_lazy("The upload was cut off before it finished, so nothing of it was kept. Please try again.")


@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "web/upload.html", {"form": UploadForm()})
    throttle = BatchCreateThrottle()  # the same count as the API's: batches per client address
    if not throttle.allow_request(request, None):
        wait = max(1, int(throttle.wait() or 1))
        response = render(request, "web/error.html", {
            "title": _("Too many batches"),
            "message": _("Too many batches from your address in a short time. Nothing was stored; "
                         "please try again in %(seconds)s seconds.") % {"seconds": wait},
        }, status=429)
        response["Retry-After"] = str(wait)
        return response
    form = UploadForm(request.POST, request.FILES)
    if not upload_complete(request):  # the client stopped sending: keep nothing of it
        return render(request, "web/error.html", {"title": _("Upload incomplete"), "message": INCOMPLETE}, status=400)
    status = 400
    if form.is_valid():
        try:
            batch = batch_intake(form.order())
        except IntakeRefused as refused:
            form.show_refusal(refused)
        except storage.StorageUnavailable:
            log.exception("storage unavailable while accepting an upload")
            form.add_error(None, _("File storage cannot be reached right now, so nothing was kept. "
                                   "Please try again in a minute."))
            status = 503
        else:
            return redirect("web:batch", batch_id=batch.id)
    return render(request, "web/upload.html", {"form": form}, status=status)


@csrf_exempt  # the signed token in the URL is the credential, as in S3's presigned part URLs
@require_http_methods(["PUT"])
def stored_part(request: HttpRequest, token: str) -> HttpResponse:
    """One part of an upload in parts, PUT to a link local storage signed for it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or -1)
    except ValueError:
        length = -1
    if length < 0:
        return JsonResponse({"error": _("Send the part's length (Content-Length).")}, status=411)
    try:
        storage.multipart_part_receive(token, request, length)
    except storage.LinkRefused as refused:
        return JsonResponse({"error": str(refused)}, status=403)
    except storage.PartRefused as refused:
        return JsonResponse({"error": str(refused)}, status=400)
    except storage.MissingObject:
        return JsonResponse({"error": _("No open upload has this id.")}, status=404)
    return HttpResponse(status=200)


@require_GET
def stored_object(request: HttpRequest, token: str) -> HttpResponse:
    """An object handed out through a link local storage signed (its stand-in for a presigned URL)."""
    try:
        linked = storage.linked_object(token)
        return FileResponse(storage.open_object(linked.key), as_attachment=linked.attachment,
                            filename=linked.filename, content_type=linked.content_type)
    except storage.LinkRefused as refused:
        return render(request, "web/error.html", {"title": _("Link expired"), "message": str(refused)},
                      status=403)
    except storage.MissingObject:
        return not_found(request)


def _expired(request: HttpRequest, batch: Batch) -> HttpResponse:
    """410 Gone: the page says whether the batch expired or was cancelled."""
    return render(request, "web/expired.html", {"batch": batch}, status=410)


def page_state(request: HttpRequest, batch: Batch) -> dict:
    """The batch's state as the API answers it (GET /api/v1/batches/<id>), for the page and its polling."""
    return batch_representation(batch, request.build_absolute_uri("/"))


@require_GET
def batch_page(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    batch = get_object_or_404(Batch, pk=batch_id)
    return render(request, "web/batch.html", {"batch": batch, "state": page_state(request, batch)})


@require_GET
def batch_status_json(request: HttpRequest, batch_id: UUID) -> JsonResponse:
    batch = Batch.objects.filter(pk=batch_id).first()
    if batch is None:
        return JsonResponse({"error": _("No batch has this id.")}, status=404)
    response = JsonResponse(page_state(request, batch))
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def download(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    batch = get_object_or_404(Batch, pk=batch_id)
    # The deadline is checked here, not left to the sweeper, which may be late.
    if batch.is_expired():
        return _expired(request, batch)
    if batch.status != Batch.Status.READY:
        return render(request, "web/error.html", {
            "title": _("Not ready yet"),
            "message": _("This batch has no archive to download yet."),
            "batch": batch,
        }, status=409)
    return _stored_file(batch.archive_key, batch.archive_name, batch, "application/zip")


def _stored_file(key: str, filename: str, batch: Batch, content_type: str | None,
                 attachment: bool = True) -> HttpResponse:
    """An object of the batch: a redirect to storage's link for it, which ends with the batch."""
    return redirect(storage.download_url(key, filename, batch.expires_at, content_type=content_type,
                                         attachment=attachment))


@require_GET
def result(request: HttpRequest, batch_id: UUID, file_id: UUID, index: int) -> HttpResponse:
    """One result of one file, while the batch lasts."""
    file = get_object_or_404(BatchFile.objects.select_related("batch"), pk=file_id, batch_id=batch_id,
                             status=BatchFile.Status.DONE)
    if file.batch.is_expired():
        return _expired(request, file.batch)
    if not 0 <= index < len(file.results):
        return not_found(request)
    key, name = file.results[index]["key"], file.results[index]["name"].rsplit("/", 1)[-1]
    return _stored_file(key, name, file.batch, mimetypes.guess_type(name)[0])


@require_GET
def preview(request: HttpRequest, batch_id: UUID, file_id: UUID) -> HttpResponse:
    """A finished file's small preview, shown in its row of the waiting page."""
    file = get_object_or_404(BatchFile.objects.select_related("batch"), pk=file_id, batch_id=batch_id)
    if not file.preview_key or file.batch.is_expired():
        return HttpResponse(status=404)
    return _stored_file(file.preview_key, "preview.webp", file.batch, "image/webp", attachment=False)


@require_GET
def errors_report(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    """errors.txt on its own: what a batch whose every file failed offers instead of a ZIP."""
    batch = get_object_or_404(Batch, pk=batch_id)
    if batch.is_expired():
        return _expired(request, batch)
    failed = list(batch.files.filter(status=BatchFile.Status.FAILED).order_by("position"))
    if not failed or batch.finished_count < batch.file_count:
        return not_found(request)
    response = HttpResponse(error_report(failed, batch.file_count), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="errors.txt"'
    return response


@require_POST
def cancel(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    batch = get_object_or_404(Batch, pk=batch_id)
    batch_cancel(batch.pk)  # a batch that already ended is left as it is; the page shows which
    return redirect("web:batch", batch_id=batch.pk)


# Error pages: plain words, never a stack trace; under /api/ the API's JSON error shape instead.

def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if api_errors.is_api(request):
        return api_errors.json_error(403, "The request was refused: a form post without its security token.")
    return render(request, "web/error.html", {
        "title": _("Please submit the form again"),
        "message": _("The form's security token was missing or out of date (this happens when a page was open "
                   "for a long time or cookies are blocked). Nothing was uploaded. Reload the page and try again."),
    }, status=403)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = _("The request could not be understood.")
    if isinstance(exception, TooManyFilesSent):
        message = _("Too many files in one upload: at most %(limit)s per batch. Nothing was stored.") % {
            "limit": settings.MAX_FILES_PER_BATCH}
    elif isinstance(exception, SuspiciousOperation):
        message = _("The request was refused because it was malformed or too large. Nothing was stored.")
    if api_errors.is_api(request):
        return api_errors.json_error(400, str(message))
    return render(request, "web/error.html", {"title": _("Bad request"), "message": message}, status=400)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if api_errors.is_api(request):
        return api_errors.json_error(403)
    return permission_denied(request, exception)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if api_errors.is_api(request):
        return api_errors.json_error(404)
    return render(request, "web/error.html", {
        "title": _("Not found"),
        "message": _("There is nothing at this address. Batch links are only valid as they were given out."),
    }, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if api_errors.is_api(request):
        return api_errors.json_error(500)
    return render(request, "web/error.html", {
        "title": _("Something went wrong"),
        "message": _("The server hit an unexpected problem. Please try again shortly."),
    }, status=500)
