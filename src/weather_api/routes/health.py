"""Liveness and readiness probes; neither calls an upstream."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from weather_api.routes.deps import ReadinessDep
from weather_api.schemas import Health

router = APIRouter()


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    """200 while the event loop runs."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Readiness: send traffic here",
    responses={503: {"model": Health, "description": "Starting up or draining"}},
)
async def readyz(readiness: ReadinessDep) -> JSONResponse:
    """200 after start-up; 503 from the moment shutdown begins."""
    status = 200 if readiness.ready else 503
    return JSONResponse({"status": readiness.phase.value}, status_code=status)
