"""How the API's routers register their views: each at ``path`` and at ``path/``."""
from __future__ import annotations

from ninja import Router


def route_on(router: Router):
    """A decorator factory registering views on ``router`` at ``path`` and ``path/`` (the latter kept out
    of the schema), so that a trailing slash works everywhere and the OpenAPI document lists each once."""
    def route(methods: list[str], path: str, **kwargs):
        def register(view):
            router.api_operation(methods, path, **kwargs)(view)
            router.api_operation(methods, path + "/", include_in_schema=False, **kwargs)(view)
            return view
        return register
    return route
