"""App configuration of ``topology``."""
from django.apps import AppConfig


class TopologyConfig(AppConfig):
    """The topology app."""

    name = "topology"
    default_auto_field = "django.db.models.BigAutoField"
