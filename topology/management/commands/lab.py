"""``manage.py lab``: import, export, list, inspect, deploy, destroy, exec into, ping all and clean up labs.

Deploy and destroy go through the root worker (the same path as the web
tier); ``exec``, ``ping-all``, ``gc`` and ``images`` act on this host's Docker Engine
directly and so need root.
"""
from __future__ import annotations

import argparse
import json
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ... import labview, schema, services
from ...cli import apply as apply_cli
from ...cli import hosts as hosts_cli
from ...cli import interop as interop_cli
from ...cli import links as links_cli
from ...cli import routes as routes_cli
from ...cli.progress import follow
from ...limits import document_limits
from ...models import LIVE_STATES, Lab, LabState, Topology

EXIT_INVALID = 2


class Command(BaseCommand):
    """The ``lab`` command and its subcommands."""

    help = "Drive Topolab labs from the command line."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        def with_user(p):
            p.add_argument("--user", help="owner of the topology (default: the first superuser)")
            return p

        p = with_user(sub.add_parser("import", help="read a topolab/v1 file (- for standard input), or a "
                                                    "containerlab or Kathará lab (a file, a folder or an archive)"))
        p.add_argument("file")
        p.add_argument("--replace", action="store_true", help="overwrite a topology of the same name")
        interop_cli.add_import_arguments(p)

        p = with_user(sub.add_parser("export", help="print a topology's document (or write it for containerlab "
                                                    "or Kathará)"))
        p.add_argument("name")
        interop_cli.add_export_arguments(p)

        with_user(sub.add_parser("list", help="topologies and their labs' state"))

        p = with_user(sub.add_parser("status", help="a lab's state, nodes, containers and interfaces"))
        p.add_argument("name")
        p.add_argument("--json", action="store_true", help="machine-readable output")

        for action, what in (("deploy", "build"), ("destroy", "tear down")):
            p = with_user(sub.add_parser(action, help=f"queue the {what} of a lab on the root worker"))
            p.add_argument("name")
            p.add_argument("--wait", action="store_true", help="follow it step by step; exit 1 if it fails")
            p.add_argument("--timeout", type=float, default=900, help="seconds --wait waits (default 900)")

        p = with_user(sub.add_parser("exec", help="run a command in a node: lab exec NAME NODE -- CMD [ARG...]"))
        p.add_argument("name")
        p.add_argument("node")
        p.add_argument("argv", nargs=argparse.REMAINDER)

        p = with_user(sub.add_parser("ping-all", help="ping every address of a running lab from each node; "
                                                      "print who reaches whom"))
        p.add_argument("name")
        p.add_argument("--json", action="store_true", help="machine-readable output (the API's answer)")

        links_cli.add_parser(sub, with_user)
        routes_cli.add_parser(sub, with_user)

        p = with_user(sub.add_parser("apply", help="make a running lab run FILE's document, changing only what "
                                                   "changed: lab apply NAME FILE [--dry-run]"))
        p.add_argument("name")
        p.add_argument("file", help="the new document (- for standard input)")
        p.add_argument("--dry-run", action="store_true", help="only say what it would do")
        p.add_argument("--wait", action="store_true", help="follow it step by step; exit 1 if it fails")
        p.add_argument("--timeout", type=float, default=900, help="seconds --wait waits (default 900)")
        p.add_argument("--json", action="store_true", help="machine-readable output (the API's answer)")

        p = with_user(sub.add_parser("node", help="stop, start or restart one node of a running lab (a started "
                                                  "node gets its links back): lab node NAME NODE stop|start|restart"))
        p.add_argument("name")
        p.add_argument("node")
        p.add_argument("node_action", metavar="stop|start|restart", choices=("stop", "start", "restart"))
        p.add_argument("--json", action="store_true", help="machine-readable output (the API's answer)")

        sub.add_parser("gc", help="remove what Topolab made that no lab owns (after a crash)")
        hosts_cli.add_parser(sub, with_user)

        p = sub.add_parser("pool", help="the warm pool of started containers deploys take: what it holds; "
                                        "--fill runs a round of upkeep, --drain removes its members")
        group = p.add_mutually_exclusive_group()
        group.add_argument("--fill", action="store_true")
        group.add_argument("--drain", action="store_true")
        p.add_argument("--json", action="store_true", help="machine-readable output")

        p = sub.add_parser("images", help="list the node images; --build builds missing or outdated ones")
        p.add_argument("--build", action="store_true")
        p.add_argument("--force", action="store_true", help="with --build: rebuild even when up to date")

    def handle(self, *args, action, **options):
        getattr(self, "do_" + action.replace("-", "_"))(**options)

    # -- helpers -------------------------------------------------------------
    def _user(self, username: str | None):
        users = get_user_model().objects
        if username:
            try:
                return users.get(username=username)
            except users.model.DoesNotExist:
                raise CommandError(f"no user named '{username}'") from None
        first = users.filter(is_superuser=True).order_by("id").first()
        if first is None:
            raise CommandError("no --user given and no superuser exists (run 'manage.py ensure_admin')")
        return first

    def _topology(self, name: str, username: str | None) -> Topology:
        user = self._user(username)
        try:
            return Topology.objects.select_related("lab", "owner").get(owner=user, name=name)
        except Topology.DoesNotExist:
            raise CommandError(f"{user.get_username()} has no topology named '{name}' (see 'lab list')") from None

    def _read_document(self, file: str, nothing: str) -> tuple[bytes, schema.Validation]:
        """A document file's bytes (``-``: standard input) and their validation; every problem on stderr and
        :class:`CommandError` (saying ``nothing`` was done) when it has any."""
        try:
            text = sys.stdin.buffer.read() if file == "-" else open(file, "rb").read()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}", returncode=EXIT_INVALID) from None
        result = schema.loads(text, document_limits())
        if not result.ok:
            for problem in result.errors:
                self.stderr.write(str(problem))
            raise CommandError(f"{file}: {len(result.errors)} problem{'s' if len(result.errors) != 1 else ''}, "
                               f"{nothing}", returncode=EXIT_INVALID)
        return text, result

    def _refused(self, exc: services.ServiceError):
        for problem in exc.problems:
            self.stderr.write(str(problem))
        raise CommandError(exc.message if not exc.problems else f"{exc.message} ({len(exc.problems)} problem"
                           f"{'s' if len(exc.problems) != 1 else ''})",
                           returncode=EXIT_INVALID if exc.status == 400 else 1)

    # -- subcommands ---------------------------------------------------------
    def do_import(self, file, user, replace, format=None, **_):
        owner = self._user(user)
        if interop_cli.wants(file, format):  # containerlab, Kathará, a folder or an archive
            imported = interop_cli.read_lab(self, file, format)
            try:
                topology = services.import_topology(owner, imported.validation, replace=replace)
            except services.ServiceError as exc:
                self._refused(exc)
            return interop_cli.report(self, imported, topology, owner)
        text, result = self._read_document(file, "nothing saved")
        try:
            topology = services.import_topology(owner, json.loads(text), replace=replace)
        except services.ServiceError as exc:
            self._refused(exc)
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(f"imported '{topology.name}' for {owner.get_username()} "
                          f"({topology.node_count} nodes, {topology.link_count} links)")

    def do_export(self, name, user, format="topolab", output=None, **_):
        topology = self._topology(name, user)
        if format != "topolab":
            return interop_cli.export_lab(self, topology, format, output)
        self.stdout.write(json.dumps(topology.document, indent=2))

    def do_list(self, user, **_):
        owner = self._user(user)
        rows = Topology.objects.filter(owner=owner).select_related("lab").order_by("name")
        if not rows:
            self.stdout.write(f"{owner.get_username()} has no topologies yet (try 'lab import FILE')")
            return
        self.stdout.write(f"{'NAME':40} {'NODES':>5} {'LINKS':>5}  STATE")
        for t in rows:
            self.stdout.write(f"{t.name:40} {t.node_count:5} {t.link_count:5}  {self._state(t.lab)}")

    @staticmethod
    def _state(lab: Lab) -> str:
        from ... import hosts

        if hosts.unreachable(lab):
            return f"{lab.state} (host unreachable: {hosts.describe(lab.queue)})"
        if labview.stale(lab):
            return f"{lab.state} (interrupted: run 'lab destroy' or 'lab gc')"
        return lab.state

    def do_status(self, name, user, json: bool = False, **_):
        topology = self._topology(name, user)
        lab = topology.lab
        data = labview.status(topology)
        if json:
            import json as json_module

            self.stdout.write(json_module.dumps(data, indent=2))
            return
        self.stdout.write(f"{topology.name}: {self._state(lab)}" + (f" - {lab.reason}" if lab.reason else ""))
        for node in data["nodes"]:
            self.stdout.write(f"  {node['name']:16} {node['kind']:8} {node['state']:9} {node['container'] or '-'}"
                              + (f"  {node['reason']}" if node["reason"] else ""))
            for iface in node["interfaces"]:
                self.stdout.write(f"      {iface['name']:15} {iface['state']:4} {iface.get('mac') or '':17} "
                                  f"{' '.join(iface['addresses'])}")

    def _operate(self, name, user, wait, timeout, request):
        topology = self._topology(name, user)
        lab = topology.lab
        try:
            operation = request(lab)
        except services.ServiceError as exc:
            self._refused(exc)
        verb = "deploy" if request is services.request_deploy else "destroy"
        if not wait:
            self.stdout.write(f"{verb} of '{topology.name}' queued on {lab.queue} (follow it with 'lab status')")
            return
        try:
            lab = follow(lab, operation, self.stdout.write, timeout)
        except TimeoutError as exc:
            raise CommandError(str(exc), returncode=1) from None
        if lab.state == LabState.FAILED:
            raise CommandError(f"{verb} failed: {lab.reason}", returncode=1)
        self.stdout.write(f"'{topology.name}' is {lab.state}")

    def do_apply(self, name, file, user, dry_run, wait, timeout, json: bool = False, **_):
        import json as json_module

        from ... import apply

        topology = self._topology(name, user)
        _, result = self._read_document(file, "nothing applied")
        try:
            answer = apply.apply(topology, result, dry_run=dry_run)
        except services.ServiceError as exc:
            self._refused(exc)
        if json:
            self.stdout.write(json_module.dumps(answer, indent=2))
        else:
            for line in apply_cli.describe(answer["changes"]) or ["nothing to change"]:
                self.stdout.write(line)
        if not answer["queued"]:
            return
        if not wait:
            if not json:
                self.stdout.write(f"apply to '{topology.name}' queued on {topology.lab.queue} (follow it with 'lab status')")
            return
        try:
            lab = follow(topology.lab, answer["operation"], self.stdout.write, timeout)
        except TimeoutError as exc:
            raise CommandError(str(exc), returncode=1) from None
        if lab.reason:
            raise CommandError(f"apply: {lab.reason}", returncode=1)
        self.stdout.write(f"'{topology.name}' is {lab.state}")

    def do_routes(self, name, user, apply_routes, json: bool = False, **_):
        import json as json_module

        from ... import routes

        topology = self._topology(name, user)
        try:
            document = services.parse(topology.document)
            computed = routes.compute(document)
            answer = {**computed.as_dict(), "document": routes.with_routes(document, computed.routes), "applied": False}
            if apply_routes and computed.routes:
                services.update_topology(topology, answer["document"])
                answer["applied"] = True
        except services.ServiceError as exc:
            self._refused(exc)
        if json:
            self.stdout.write(json_module.dumps(answer, indent=2))
        else:
            for line in routes_cli.describe(answer):
                self.stdout.write(line)

    def do_deploy(self, name, user, wait, timeout, **_):
        self._operate(name, user, wait, timeout, services.request_deploy)

    def do_destroy(self, name, user, wait, timeout, **_):
        self._operate(name, user, wait, timeout, services.request_destroy)

    def do_exec(self, name, node, argv, user, **_):
        from ...engine.docker_runtime import DockerRuntime, RuntimeStepError

        if argv and argv[0] == "--":
            argv = argv[1:]
        if not argv:
            raise CommandError("no command given: lab exec NAME NODE -- CMD [ARG...]", returncode=EXIT_INVALID)
        topology = self._topology(name, user)
        lab_node = topology.lab.nodes.filter(name=node).first()
        if lab_node is None or not lab_node.container_id or topology.lab.state not in LIVE_STATES:
            known = [n["name"] for n in topology.document.get("nodes", [])]
            if node not in known:
                raise CommandError(f"'{topology.name}' has no node '{node}' (its nodes: {', '.join(known)})")
            raise CommandError(f"'{node}' is not running (the lab is {topology.lab.state}; deploy it first)")
        out = sys.stdout.buffer
        try:
            code = DockerRuntime().exec(lab_node.container_id, argv, stream=lambda chunk: (out.write(chunk), out.flush()))
        except RuntimeStepError as exc:
            raise CommandError(str(exc)) from None
        sys.exit(code)

    def do_link(self, name, end, user, **options):
        from ... import links

        change = links_cli.change_of(options)
        try:
            answer = links.change(self._topology(name, user), end, change)
        except services.ServiceError as exc:
            self._refused(exc)
        self.stdout.write(links_cli.describe(answer))

    def do_node(self, name, node, node_action, user, json: bool = False, **_):
        from ... import nodes

        try:
            answer = nodes.act(self._topology(name, user), node, node_action)
        except services.ServiceError as exc:
            self._refused(exc)
        if json:
            import json as json_module

            self.stdout.write(json_module.dumps(answer))
        else:
            self.stdout.write(f"{node}: {answer['state']} ({node_action} took {answer['elapsed_ms']} ms)")

    def do_ping_all(self, name, user, json: bool = False, **_):
        from ...pingall import ping_all

        topology = self._topology(name, user)
        if topology.lab.state not in LIVE_STATES:
            raise CommandError(f"'{topology.name}' is not running (the lab is {topology.lab.state}; deploy it first)")
        answer = ping_all(topology.lab.pk)
        if answer.get("error"):
            raise CommandError(answer["detail"])
        if json:
            import json as json_module

            self.stdout.write(json_module.dumps(answer, indent=2))
        else:
            for line in matrix_lines(answer):
                self.stdout.write(line)
        cells = [cell for row in answer["results"].values() for cell in row.values()]
        if not all(cell["ok"] for cell in cells):
            sys.exit(1)

    def do_pool(self, fill=False, drain=False, json: bool = False, **_):
        import json as json_module

        from ...engine.pool import member_memory
        from ...warm_pool import budget, make_pool

        pool = make_pool()
        if drain:
            self.stdout.write(f"removed {pool.drain()} pool members (a running lab worker fills it again to "
                              f"its size, {budget().size} per image: set it to 0 in the admin to keep it empty)")
            return
        if fill:
            pool.fill()
        found = []
        for spec in pool.specs:
            members = pool.members(spec)
            memory = [member_memory(m.id) for m in members]
            found.append({"image": spec.image, "capabilities": list(spec.capabilities), "members": len(members),
                          "running": sum(m.state == "running" for m in members),
                          "memory_mb": round(sum(x or 0 for x in memory) / 2 ** 20, 1)})
        now = budget()
        if json:
            self.stdout.write(json_module.dumps({"size": now.size, "memory_mb": now.memory_mb, "pools": found}))
            return
        self.stdout.write(f"budget: {now.size} per image, {now.memory_mb} MB in all")
        for item in found:
            self.stdout.write(f"{item['image']} ({', '.join(item['capabilities'])}): {item['running']} running of "
                              f"{item['members']}, {item['memory_mb']} MB")

    def do_hosts(self, **options):
        hosts_cli.run(self, options)

    def do_gc(self, **_):
        from ...operations import collect_garbage

        result = collect_garbage()
        for lab_id in result.interrupted:
            self.stdout.write(f"lab {lab_id}: interrupted operation ended, lab marked failed")
        for what in result.removed:
            self.stdout.write(f"removed {what}")
        if not result.removed and not result.interrupted:
            self.stdout.write("nothing to clean up")

    def do_images(self, build, force, **_):
        from ... import images

        if build:
            statuses = images.build_images(force=force, log=self.stdout.write)
        else:
            statuses = images.list_images()
        self.stdout.write(f"{'IMAGE':20} {'KINDS':22} {'STATE':12} SIZE")
        for s in statuses:
            state = "up to date" if s.up_to_date else ("outdated" if s.present else "missing")
            size = f"{s.size_bytes / 1e6:.0f} MB" if s.size_bytes else "-"
            self.stdout.write(f"{s.name:20} {', '.join(s.kinds):22} {state:12} {size}")


def matrix_lines(answer: dict) -> list[str]:
    """A ping all's answer as text: a line per source and target (reached with its time, or why not), then
    a summary ("7 of 9 reachable")."""
    lines = []
    reached = total = 0
    for source in answer["sources"]:
        for target in answer["targets"]:
            cell = answer["results"].get(source, {}).get(target["address"])
            if cell is None:
                continue  # its own address
            total += 1
            reached += cell["ok"]
            rtt = f"{cell['rtt_ms']:.3f} ms" if cell["rtt_ms"] is not None else "reached"
            seen = rtt if cell["ok"] else f"UNREACHABLE  {cell['error']}"
            where = f"{target['node']}:{target['interface']}"
            lines.append(f"{source:16} -> {target['address']:39} {where:24} {seen}")
    lines.append(f"{reached} of {total} reachable ({answer['took_ms']} ms)")
    return lines
