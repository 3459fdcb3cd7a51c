"""Websocket routes of the app (Channels)."""
from django.urls import path

from .consumers import LabConsumer

websocket_urlpatterns: list = [
    path("ws/topologies/<int:topology_id>/", LabConsumer.as_asgi()),
]
