"""REST API v1: thin views; serializers parse and render, the domain does the work."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFilesSent
from django.db.models import Model
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.batches import staging, storage
from backend.batches.intake import IntakeRefused, batch_intake
from backend.batches.lifecycle import batch_cancel
from backend.batches.models import Batch, StagedUpload
from backend.batches.quotas import client_key
from backend.batches.steps import presets_list
from backend.batches.uploads import UploadRefused
from backend.ops import stats
from backend.processors import registry
from backend.processors.schema import options_schema
from backend.web.client_address import client_address
from backend.web.multipart import upload_complete

from . import serializers
from .errors import json_error
from .permissions import ApiClient, NotFromAnotherSite, Operator
from .throttling import BatchCreateThrottle, UploadStartThrottle

log = logging.getLogger(__name__)

ERROR = serializers.ErrorSerializer
NO_BATCH = "No batch has this id."
NOT_FOUND = OpenApiResponse(ERROR, description=NO_BATCH)
MISTAKES = "The request has mistakes; nothing was stored."


def error(message: str, status: int, fields: dict | None = None) -> Response:
    body: dict = {"error": message}
    if fields:
        body["fields"] = {key: [str(message) for message in messages] for key, messages in fields.items()}
    return Response(body, status=status)


def found(model: type[Model], pk: UUID, message: str) -> Any:
    """The row with this id, or the API's 404 with `message` (raised, so each view reads in one line)."""
    row = model.objects.filter(pk=pk).first()
    if row is None:
        raise NotFound(message)
    return row


def batch_body(request: Request, batch: Batch) -> dict:
    return serializers.batch_representation(batch, request.build_absolute_uri("/"))


@csrf_exempt  # no form posts here: a write to an unknown address is a 404, not a CSRF failure page
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any other address under /api/ (or a malformed id): the API's own error shape, not the site's page."""
    return json_error(404)


class ProcessorList(APIView):
    permission_classes = [ApiClient]

    @extend_schema(responses=serializers.ProcessorSerializer(many=True), summary="Every processing type offered")
    def get(self, request: Request) -> Response:
        return Response(serializers.ProcessorSerializer([
            {"name": cls.name, "label": str(cls.label), "description": str(cls.description), "queue": cls.queue,
             "accepts": list(cls.accepts), "options_schema": options_schema(cls)}
            for cls in registry.available()
        ], many=True).data)


class PresetList(APIView):
    permission_classes = [ApiClient]

    @extend_schema(responses=serializers.PresetSerializer(many=True), summary="Named chains of steps")
    def get(self, request: Request) -> Response:
        return Response(serializers.PresetSerializer(presets_list(), many=True).data)


class BatchCollection(APIView):
    parser_classes = [MultiPartParser, FormParser]

    def get_permissions(self) -> list:
        return [Operator()] if self.request.method == "GET" else [NotFromAnotherSite(), ApiClient()]

    def get_throttles(self) -> list:
        return [BatchCreateThrottle()] if self.request.method == "POST" else []

    @extend_schema(
        summary="Active batches (operators only)",
        parameters=[OpenApiParameter("status", str, enum=["active", *Batch.Status.values],
                                     description="`active` is queued and processing; default: active.")],
        responses={200: serializers.BatchStateSerializer(many=True), 400: ERROR, 401: ERROR, 403: ERROR},
    )
    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("status", "active")
        if wanted == "active":
            batches = Batch.objects.filter(status__in=Batch.ACTIVE)
        elif wanted in Batch.Status.values:
            batches = Batch.objects.filter(status=wanted)
        else:
            return error(f"Unknown status {wanted!r}.", 400, {"status": ["Use active or a batch status."]})
        return Response([batch_body(request, batch) for batch in batches.order_by("-created_at")[:500]])

    @extend_schema(
        summary="Upload files and start a batch",
        request={"multipart/form-data": serializers.BatchCreateSerializer},
        responses={
            201: serializers.BatchStateSerializer,
            400: OpenApiResponse(ERROR, description="Each bad file or field is named in `fields`."),
            401: ERROR, 403: ERROR,
            413: OpenApiResponse(ERROR, description="The request is larger than a batch may be."),
            415: ERROR,
            429: OpenApiResponse(ERROR, description="Too many batches from this address; see Retry-After."),
            503: OpenApiResponse(ERROR, description="Storage unreachable; nothing was kept."),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            data = request.data
        except TooManyFilesSent:
            return error("Too many files in one request.", 400, {"files": ["Too many files."]})
        except RequestDataTooBig:
            return error("The request is too large.", 413)
        except SuspiciousOperation:
            return error("The request was malformed.", 400)
        if not upload_complete(request._request):  # the client stopped sending: keep nothing of it
            return error("The upload was cut off before it finished, so nothing of it was kept.", 400)
        serializer = serializers.BatchCreateSerializer(data=data)
        if not serializer.is_valid():
            return error(MISTAKES, 400, serializer.errors)
        try:
            batch = batch_intake(serializer.validated_data["order"])
        except IntakeRefused as refused:
            return error(MISTAKES, 400, serializers.refusal_errors(refused, serializer.validated_data["source"]))
        except storage.StorageUnavailable:
            log.exception("storage unavailable while accepting an API upload")
            return error("File storage cannot be reached right now, so nothing was kept. Try again later.", 503)
        response = Response(batch_body(request, batch), status=201)
        response["Location"] = response.data["status_url"]
        return response


class BatchDetail(APIView):
    permission_classes = [ApiClient]

    @extend_schema(summary="A batch's state", responses={200: serializers.BatchStateSerializer, 404: NOT_FOUND})
    def get(self, request: Request, batch_id: UUID) -> Response:
        batch = found(Batch, batch_id, NO_BATCH)
        response = Response(batch_body(request, batch))
        response["Cache-Control"] = "no-store"
        return response


class BatchCancel(APIView):
    permission_classes = [NotFromAnotherSite, ApiClient]

    @extend_schema(
        summary="Cancel a batch while work remains", request=None,
        responses={200: serializers.BatchStateSerializer, 404: NOT_FOUND,
                   409: OpenApiResponse(ERROR, description="The batch had already ended.")},
    )
    def post(self, request: Request, batch_id: UUID) -> Response:
        batch = found(Batch, batch_id, NO_BATCH)
        if not batch_cancel(batch.pk):
            batch.refresh_from_db()
            return error(f"The batch had already ended ({batch.status}); nothing was changed.", 409)
        batch.refresh_from_db()
        return Response(batch_body(request, batch))


class Stats(APIView):
    permission_classes = [Operator]

    @extend_schema(summary="Statistics for operators", responses={200: dict, 401: ERROR, 403: ERROR})
    def get(self, request: Request) -> Response:
        return Response(stats.collect())


# Uploads in parts, straight to storage: start → part URLs → PUT each part → complete → a batch
# (POST /api/v1/batches with `uploads`). The web never carries the file's bytes.

UNREACHABLE = "File storage cannot be reached right now; try again shortly (parts already sent are kept)."
NO_UPLOAD = "No upload has this id (it was used, refused or abandoned)."
UPLOAD_NOT_FOUND = OpenApiResponse(ERROR, description=NO_UPLOAD)


def upload_body(request: Request, upload: StagedUpload, parts: dict[int, int] | None = None) -> dict:
    return serializers.UploadSerializer(upload, context={"request": request, "parts": parts}).data


class UploadCollection(APIView):
    def get_permissions(self) -> list:
        return [NotFromAnotherSite(), ApiClient()]

    def get_throttles(self) -> list:
        return [UploadStartThrottle()]

    @extend_schema(summary="Begin sending a file in parts", request=serializers.UploadStartSerializer,
                   responses={201: serializers.UploadSerializer, 400: ERROR, 429: ERROR, 503: ERROR})
    def post(self, request: Request) -> Response:
        given = serializers.UploadStartSerializer(data=request.data)
        if not given.is_valid():
            return error(MISTAKES, 400, given.errors)
        try:
            upload = staging.upload_start(**given.validated_data, client=client_key(client_address(request)))
        except UploadRefused as refused:
            return error(str(refused), 400, {"size": [str(refused)]})
        except storage.StorageUnavailable:
            log.exception("storage unavailable while starting an upload")
            return error(UNREACHABLE, 503)
        return Response(upload_body(request, upload, {}), status=201)


class UploadDetail(APIView):
    permission_classes = [ApiClient]

    def get_permissions(self) -> list:
        return [NotFromAnotherSite(), ApiClient()]

    @extend_schema(summary="An upload, with the parts storage holds (to resume)",
                   responses={200: serializers.UploadSerializer, 404: UPLOAD_NOT_FOUND, 503: ERROR})
    def get(self, request: Request, upload_id: UUID) -> Response:
        upload = found(StagedUpload, upload_id, NO_UPLOAD)
        try:
            parts = staging.upload_parts(upload)
        except storage.MissingObject:
            return error("This upload's parts are gone (it was aborted); start again.", 404)
        except storage.StorageUnavailable:
            return error(UNREACHABLE, 503)
        return Response(upload_body(request, upload, parts))

    @extend_schema(summary="Abort an upload and delete what was sent", responses={204: None, 404: UPLOAD_NOT_FOUND})
    def delete(self, request: Request, upload_id: UUID) -> Response:
        upload = found(StagedUpload, upload_id, NO_UPLOAD)
        try:
            staging.upload_discard(upload)
        except storage.StorageUnavailable:
            return error(UNREACHABLE, 503)
        return Response(status=204)


class UploadParts(APIView):
    def get_permissions(self) -> list:
        return [NotFromAnotherSite(), ApiClient()]

    @extend_schema(summary="URLs to PUT parts to, each for one part of this upload only",
                   request=serializers.UploadPartsRequestSerializer,
                   responses={200: OpenApiResponse(description='{"urls": {"<number>": "<url>"}, "expires_in": s}'),
                              400: ERROR, 404: UPLOAD_NOT_FOUND, 409: ERROR})
    def post(self, request: Request, upload_id: UUID) -> Response:
        upload = found(StagedUpload, upload_id, NO_UPLOAD)
        if upload.completed_at:
            return error("This upload is complete; it takes no more parts.", 409)
        given = serializers.UploadPartsRequestSerializer(data=request.data)
        if not given.is_valid():
            return error(MISTAKES, 400, given.errors)
        try:
            urls = staging.upload_part_urls(upload, given.validated_data["parts"])
        except UploadRefused as refused:
            return error(str(refused), 400, {"parts": [str(refused)]})
        return Response({"urls": {str(n): request.build_absolute_uri(url) for n, url in urls.items()},
                         "expires_in": settings.UPLOAD_PART_URL_SECONDS})


class UploadComplete(APIView):
    def get_permissions(self) -> list:
        return [NotFromAnotherSite(), ApiClient()]

    @extend_schema(summary="Join the parts and check the file (size, type from its bytes, limits)", request=None,
                   responses={200: serializers.UploadSerializer, 400: ERROR, 404: UPLOAD_NOT_FOUND,
                              409: OpenApiResponse(ERROR, description="Parts missing; `fields.parts` names them."),
                              503: ERROR})
    def post(self, request: Request, upload_id: UUID) -> Response:
        upload = found(StagedUpload, upload_id, NO_UPLOAD)
        try:
            upload = staging.upload_complete(upload)
        except staging.UploadIncomplete as incomplete:
            return error(str(incomplete), 409, {"parts": [str(n) for n in incomplete.missing]})
        except UploadRefused as refused:
            return error(str(refused), 400, {"file": [str(refused)]})
        except storage.MissingObject:
            return error("This upload's parts are gone (it was aborted); start again.", 404)
        except storage.StorageUnavailable:
            log.exception("storage unavailable while completing an upload")
            return error(UNREACHABLE, 503)
        return Response(upload_body(request, upload, staging.upload_parts(upload)))
