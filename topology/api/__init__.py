"""The REST API under ``/api/v1/`` (django-ninja), with its OpenAPI schema and docs page.

Callers authenticate with a bearer token (``Authorization: Bearer tl_...``,
made on ``/tokens/``) or the browser's session plus CSRF token. Every route
also answers with a trailing slash. The routes are in :mod:`.views`.
"""
from ninja import NinjaAPI

from .auth import SessionWithCsrf, TokenBearer

api = NinjaAPI(
    title="Topolab API",
    version="1",
    description=(
        "Topologies (topolab/v1 documents), their labs, commands in running nodes, node images; courses.\n\n"
        "The topolab/v1 format, every key and rule of it, is described at [/help/format/](/help/format/); "
        "example labs to import download from /help/examples/NAME.json, for instance "
        "[router-between-two-clients.json](/help/examples/router-between-two-clients.json) (the reference lab), "
        "[switch-lan.json](/help/examples/switch-lan.json), "
        "[frr-ospf-triangle.json](/help/examples/frr-ospf-triangle.json) and "
        "[two-sites-slow-link.json](/help/examples/two-sites-slow-link.json)."
    ),
    urls_namespace="api",
    auth=[TokenBearer(), SessionWithCsrf()],
)

from .apply import router as apply_router  # noqa: E402
from .assignments import router as assignments_router  # noqa: E402
from .captures import router as captures_router  # noqa: E402
from .checks import router as checks_router  # noqa: E402
from .convert import router as convert_router  # noqa: E402
from .course_labs import router as course_labs_router  # noqa: E402
from .courses import router as courses_router  # noqa: E402
from .frr import router as frr_router  # noqa: E402
from .interop import router as interop_router  # noqa: E402
from .lab_tools import router as lab_tools_router  # noqa: E402
from .limits import router as limits_router  # noqa: E402
from .links import router as links_router  # noqa: E402
from .nodes import router as nodes_router  # noqa: E402
from .routes import router as routes_router  # noqa: E402
from .views import router  # noqa: E402

api.add_router("", interop_router)  # first: its /export answers ?format= (and the JSON)
api.add_router("", router)
api.add_router("", courses_router)
api.add_router("", assignments_router)
api.add_router("", checks_router)
api.add_router("", course_labs_router)
api.add_router("", limits_router)
api.add_router("", lab_tools_router)
api.add_router("", links_router)
api.add_router("", nodes_router)
api.add_router("", frr_router)
api.add_router("", apply_router)
api.add_router("", captures_router)
api.add_router("", routes_router)
api.add_router("", convert_router)
