"""``manage.py relay``: the console relay of this host (root): ``docker exec`` TTYs <-> the channel layer.

It listens on ``relay.<TOPOLAB_SITE>.<TOPOLAB_QUEUE>`` (the same host the lab
worker serves) and runs until SIGTERM or Ctrl-C, closing its sessions on the way out.
"""
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the console relay of this host (needs root: it talks to the Docker Engine)."

    def handle(self, *args, **options):
        from topology.relay.server import Relay

        Relay(settings.TOPOLAB_SITE, settings.TOPOLAB_QUEUE).main()
