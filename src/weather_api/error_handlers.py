"""Every error as an RFC 9457 problem+json answer, inside FastAPI's stack and outside it.

`add_problem_handlers` gives FastAPI one handler per kind of error: our domain errors (through
routes/responses.py's `problem_response`), its validation errors (a 422 `InvalidQuery`) and
Starlette's HTTP exceptions. `OuterErrors` catches what the layers outside FastAPI's stack
raise, which FastAPI's own error middleware never sees.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from weather_api.errors import PROBLEM_MEDIA_TYPE, InvalidQuery, WeatherApiError
from weather_api.request_middleware import REQUEST_ID_KEY, RESPONSE_STARTED_KEY
from weather_api.routes.responses import NO_STORE, problem_response

log = logging.getLogger(__name__)


def add_problem_handlers(app: FastAPI) -> None:
    """Answer domain errors, validation errors and HTTP exceptions as problem+json."""
    app.add_exception_handler(WeatherApiError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]


async def _domain_error(request: Request, exc: WeatherApiError) -> JSONResponse:
    return problem_response(exc, instance=request.url.path)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    reasons = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
    return problem_response(InvalidQuery(reasons), instance=request.url.path)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": exc.detail if isinstance(exc.detail, str) else "HTTP error",
        "status": exc.status_code,
        "detail": exc.detail if isinstance(exc.detail, str) else "HTTP error",
        "instance": request.url.path,
    }
    return JSONResponse(
        body,
        status_code=exc.status_code,
        headers={**(exc.headers or {}), **NO_STORE},
        media_type=PROBLEM_MEDIA_TYPE,
    )


class OuterErrors:
    """ASGI middleware: an exception from a layer inside it is a problem+json 500.

    FastAPI's own error middleware covers only its stack: without this, a bug in the layers
    outside it would reach uvicorn, whose answer is plain text with no request id. It sits
    inside `ObservabilityMiddleware`, which marks the scope once the response has started (no
    second `send` wrapper on every request).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception:
            if scope["type"] != "http" or scope.get(RESPONSE_STARTED_KEY):
                raise  # too late for another answer: the server logs it and drops the connection
            log.exception("unhandled error outside FastAPI's stack")
            body = WeatherApiError("The service failed; report the X-Request-ID.").problem(
                instance=scope["path"]
            )
            body["request_id"] = scope.get(REQUEST_ID_KEY)
            response = JSONResponse(
                body, status_code=500, headers=NO_STORE, media_type=PROBLEM_MEDIA_TYPE
            )
            await response(scope, receive, send)
