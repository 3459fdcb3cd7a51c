"""Websocket routes of the app (Channels)."""
from django.urls import path

from .console import ConsoleConsumer, LogsConsumer
from .consumers import LabConsumer

websocket_urlpatterns: list = [
    path("ws/topologies/<int:topology_id>/", LabConsumer.as_asgi()),
    path("ws/topologies/<int:topology_id>/nodes/<str:node>/console", ConsoleConsumer.as_asgi()),
    path("ws/topologies/<int:topology_id>/nodes/<str:node>/logs", LogsConsumer.as_asgi()),
]
