"""Websocket routes of the app (Channels)."""
from django.urls import path

websocket_urlpatterns: list = []
