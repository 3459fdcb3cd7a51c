"""``manage.py relay``: the console relay of this host (root): ``docker exec`` TTYs and container
logs <-> the channel layer.

It listens on ``relay.<TOPOLAB_SITE>.<TOPOLAB_QUEUE>`` (the same host the lab
worker serves) and runs until SIGTERM or Ctrl-C, closing its sessions on the way out.
"""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from topology.relay import KEEP_DETACHED, SILENCE


class Command(BaseCommand):
    help = "Run the console relay of this host (needs root: it talks to the Docker Engine)."

    def add_arguments(self, parser):
        parser.add_argument("--keep", type=float, default=KEEP_DETACHED, metavar="SECONDS",
                            help=f"how long a shell waits for its dropped client to come back "
                                 f"(default {KEEP_DETACHED:.0f})")
        parser.add_argument("--silence", type=float, default=SILENCE, metavar="SECONDS",
                            help=f"how long a client may stay silent before it counts as gone "
                                 f"(default {SILENCE:.0f}; the web tier pings every few seconds)")

    def handle(self, *args, **options):
        from topology.relay.server import Relay
        from topology.relay.singleton import RelayAlreadyRunning

        for option in ("keep", "silence"):
            if options[option] < 0:
                raise CommandError(f"--{option}: must be 0 or more seconds")
        try:
            Relay(settings.TOPOLAB_SITE, settings.TOPOLAB_QUEUE, keep_detached=options["keep"],
                  silence=options["silence"]).main()
        except RelayAlreadyRunning as exc:
            raise CommandError(str(exc)) from None
