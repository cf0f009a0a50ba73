"""JSON responses encoded with orjson (the enumeration hot path), and the error handlers: every error has
an Exchange-style record or an OAuth code and an HTTP status, and never a stack trace."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ..errors import ApiError

__all__ = ["JsonResponse", "install_error_handlers"]

log = logging.getLogger("mailwarden.api")


class JsonResponse(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = exc.headers()
    rid = request.headers.get("client-request-id")
    if rid:
        headers["client-request-id"] = rid[:128]
    return JsonResponse(exc.to_wire(), status_code=exc.status, headers=headers)


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "code": "InvalidRequest",
            "target": ".".join(str(p) for p in e.get("loc", ())),
            "message": e.get("msg", ""),
        }
        for e in exc.errors()[:10]
    ]
    body = {
        "error": {
            "code": "InvalidRequestException",
            "message": 'The request body must be {"CmdletInput": {"CmdletName": "...", "Parameters": {...}}}.',
            "details": problems,
        }
    }
    return JsonResponse(body, status_code=400)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "NotFound", 405: "MethodNotAllowed", 413: "RequestEntityTooLarge"}
    body = {"error": {"code": codes.get(exc.status_code, "BadRequest"), "message": str(exc.detail)}}
    return JsonResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _unexpected(request: Request, exc: Exception) -> Response:
    ref = uuid.uuid4().hex
    # The traceback goes to the server log only; the client gets a reference to quote.
    log.error("unhandled error %s on %s %s", ref, request.method, request.url.path, exc_info=exc)
    body = {
        "error": {"code": "InternalServerError", "message": f"An internal error occurred. Reference: {ref}."}
    }
    return JsonResponse(body, status_code=500)


def install_error_handlers(app: Any) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
