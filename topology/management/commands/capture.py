"""``manage.py capture``: the packet capture service of this host (root): tcpdump in nodes' network namespaces,
their pcap kept in the spool and their packets sent live to the web tier (:mod:`topology.capture`).

It takes requests from ``topolab:<TOPOLAB_SITE>:capture:requests:<TOPOLAB_QUEUE>`` (the host the lab worker
serves) and runs until SIGTERM or Ctrl-C, ending its captures (their files complete) on the way out.
"""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the packet capture service of this host (needs root: it enters nodes' network namespaces)."

    def add_arguments(self, parser):
        parser.add_argument("--idle", type=float, default=None, metavar="SECONDS",
                            help="stop a capture this long after its last watcher left "
                                 "(default TOPOLAB_CAPTURE_IDLE_SECONDS)")
        parser.add_argument("--max-seconds", type=float, default=None, metavar="SECONDS",
                            help="the longest a capture runs (default TOPOLAB_CAPTURE_MAX_SECONDS)")
        parser.add_argument("--max-bytes", type=int, default=None, metavar="BYTES",
                            help="the largest pcap file of a capture (default TOPOLAB_CAPTURE_MAX_BYTES)")

    def handle(self, *args, **options):
        from topology.capture.service import CaptureService, Limits

        for option in ("idle", "max_seconds", "max_bytes"):
            if options[option] is not None and options[option] <= 0:
                raise CommandError(f"--{option.replace('_', '-')}: must be more than 0")
        limits = Limits(idle=options["idle"], max_seconds=options["max_seconds"], max_bytes=options["max_bytes"])
        try:
            CaptureService(settings.TOPOLAB_SITE, settings.TOPOLAB_QUEUE, limits=limits).main()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
