"""The REST endpoints' one error type and shape, ``{"error": message}`` with a status (the
TF Serving endpoints and the entity endpoints share it)."""

from __future__ import annotations

import json

from starlette.responses import Response

JSON = "application/json"


class HTTPError(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, **headers: str) -> Response:
    """The one error shape: ``{"error": "..."}``."""
    return Response(json.dumps({"error": message}), status, headers=headers, media_type=JSON)
