"""`/problems/{slug}`: the page behind each problem `type`, so that every type resolves.

RFC 9457 lets `type` be a relative reference; ours are `/problems/<slug>` on this service, each
a short page saying what happened, what a client should do and whether to retry. The texts are
the error classes' own (errors.py), so a new error type gets its page with nothing added here.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import HTMLResponse

from weather_api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE, problem_types

router = APIRouter()

_TYPES = {kind.slug: kind for kind in problem_types()}
_LISTING = "\n".join(
    f"- `{PROBLEM_TYPE_BASE}{kind.slug}` ({kind.status}): {kind.title}" for kind in _TYPES.values()
)


@router.get(
    PROBLEM_TYPE_BASE + "{slug}",
    response_class=HTMLResponse,
    summary="What a problem type means",
    description="The page a problem's `type` points at. The types:\n\n" + _LISTING,
    responses={
        200: {
            "description": "What happened, what to do, whether to retry",
            "content": {"text/html": {"example": "<!doctype html>..."}},
        },
        404: {
            "description": "No such problem type",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        },
    },
)
async def problem_page(
    slug: Annotated[
        str,
        Path(
            description="The last segment of a problem's `type`",
            json_schema_extra={"enum": list(_TYPES)},
            examples=["upstream-timeout"],
        ),
    ],
) -> HTMLResponse:
    """A short HTML page for one problem type; the same for every request, so cacheable."""
    kind = _TYPES.get(slug)
    if kind is None:
        raise HTTPException(404, "No such problem type")
    title = escape(kind.title)
    page = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title></head>
<body>
<h1>{title}</h1>
<p>HTTP status {kind.status}; problem type <code>{escape(PROBLEM_TYPE_BASE + slug)}</code>.
The answer's <code>detail</code> says more about the case at hand.</p>
<h2>What happened</h2>
<p>{escape(kind.meaning)}</p>
<h2>What to do</h2>
<p>{escape(kind.advice)}</p>
<h2>Retry?</h2>
<p>{escape(kind.retry)}</p>
</body>
</html>
"""
    return HTMLResponse(page, headers={"cache-control": "max-age=86400"})
