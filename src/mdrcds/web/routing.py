"""Routes whose endpoint takes only the request are called directly, without FastAPI's per-call work.

FastAPI's request handler reads the body for validation, solves the endpoint's dependencies and
records operation spans on every call, even for an endpoint whose only parameter is the `Request` and
which returns a `Response` itself (the CDS Hooks routes read and answer the body themselves). For
such an endpoint that work decides nothing, and it cost about 60 microseconds per call (measured in
process, docs/performance.md). `RequestOnlyRoute` is an `APIRoute` (so routing, 405 answers and the
OpenAPI description stay FastAPI's) whose handler awaits the endpoint with the request; any other
endpoint (a path or query parameter, a dependency, a body model, a returned value to serialise) gets
FastAPI's own handler.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, get_type_hints

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response


class RequestOnlyRoute(APIRoute):
    """An `APIRoute` that calls an `async def endpoint(request: Request) -> Response` directly."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        name = _only_the_request(self)
        if name is None:
            return super().get_route_handler()
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            response = await endpoint(**{name: request})
            if not isinstance(response, Response):
                raise TypeError(f"{endpoint.__qualname__} returned {type(response).__name__}, not a Response")
            return response

        return handle


def _only_the_request(route: APIRoute) -> str | None:
    """The name of the endpoint's `Request` parameter when it is a coroutine function with no other
    parameter and no dependency (the route's or the app's), annotated to return a `Response`; else None."""
    if (
        not inspect.iscoroutinefunction(route.endpoint)
        or not _returns_a_response(route.endpoint)
        or len(inspect.signature(route.endpoint).parameters) != 1
        or route.dependant.dependencies
    ):
        return None
    return route.dependant.request_param_name


def _returns_a_response(endpoint: Callable[..., Any]) -> bool:
    try:
        returned = get_type_hints(endpoint).get("return")
    except (NameError, TypeError):  # an annotation that does not resolve: FastAPI decides
        return False
    return isinstance(returned, type) and issubclass(returned, Response)
