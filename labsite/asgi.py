"""ASGI entry point of the web tier (unprivileged; never touches Docker or netlink)."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labsite.settings")

application = get_asgi_application()
