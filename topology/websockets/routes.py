"""Websocket routes of the app (Channels): one consumer per socket."""
from django.urls import path

from .console import ConsoleConsumer
from .lab import LabConsumer
from .logs import LogsConsumer

websocket_urlpatterns: list = [
    path("ws/topologies/<int:topology_id>/", LabConsumer.as_asgi()),
    path("ws/topologies/<int:topology_id>/nodes/<str:node>/console", ConsoleConsumer.as_asgi()),
    path("ws/topologies/<int:topology_id>/nodes/<str:node>/logs", LogsConsumer.as_asgi()),
]
