"""Websocket routes of the app (Channels): one consumer per socket, and a last route for every other path."""
import logging

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path, re_path

from .capture import CaptureConsumer
from .console import ConsoleConsumer
from .course import CourseConsumer
from .lab import LabConsumer
from .logs import LogsConsumer

logger = logging.getLogger(__name__)

NOT_FOUND = 4404  # close code for a path no socket lives at


class NoSuchSocket(AsyncWebsocketConsumer):
    """Any path the routes above do not match: accepted, closed at once with 4404, one line in the log.

    Without it, Channels' URLRouter raises ``ValueError("No route found ...")`` out of the
    application, and the server answers the handshake with a 500 and logs a traceback. Closing
    before accepting cannot carry a code the browser sees (it gets 1006), so it accepts first.
    It uses no channel layer (nothing to receive), so it costs Redis nothing.
    """

    channel_layer_alias = None

    async def connect(self) -> None:
        logger.warning("Not Found (websocket): %r", self.scope.get("path", ""))
        await self.accept()
        await self.close(code=NOT_FOUND)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Whatever arrives before the close is ignored."""


websocket_urlpatterns: list = [
    path("ws/topologies/<int:topology_id>/", LabConsumer.as_asgi()),
    path("ws/topologies/<int:topology_id>/nodes/<str:node>/console", ConsoleConsumer.as_asgi()),
    path("ws/topologies/<int:topology_id>/nodes/<str:node>/logs", LogsConsumer.as_asgi()),
    path("ws/topologies/<int:topology_id>/captures/<str:capture_id>", CaptureConsumer.as_asgi()),
    path("ws/courses/<int:course_id>/", CourseConsumer.as_asgi()),
    re_path(r"", NoSuchSocket.as_asgi()),  # last: matches every path
]
