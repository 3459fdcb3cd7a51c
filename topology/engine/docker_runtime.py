"""The container runtime: the only module that imports docker. Root-only.

Every node container is made with no network (``network_mode="none"``), the lab's
labels, a CPU, a memory and a pids limit, Docker's default capabilities plus
the ones its kind needs, an init process and no restart policy; never privileged.
A check's probe (:mod:`topology.probes`) joins one node's network namespace
(``network_mode="container:<node>"``) and nothing else, with every capability
dropped but NET_RAW: it has no network of its own either.

Failures are :class:`RuntimeStepError`; a command or console asked of a
container that is gone or not running is its subclass :class:`ContainerGone`.
"""
from __future__ import annotations

import io
import json
import tarfile
import time
from dataclasses import dataclass

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from . import names


class RuntimeStepError(RuntimeError):
    """A Docker operation failed; the message says what and why, in a user's words."""


class ContainerGone(RuntimeStepError):
    """The node's container is gone, or no longer running: there is nothing to run a command in."""


@dataclass(frozen=True)
class ContainerInfo:
    """What cleanup and status need to know of a container."""

    id: str
    name: str
    labels: dict
    state: str


def _explain(exc: DockerException) -> str:
    if isinstance(exc, APIError) and exc.explanation:
        return str(exc.explanation)
    return str(exc)


def _not_running(exc: APIError) -> bool:
    """The engine's refusal to exec in a container that exists but is stopped (409 "... is not running")."""
    return exc.status_code == 409 and "not running" in str(exc.explanation).lower()


def _tar_of(files) -> bytes:
    """A tar archive of ``(path, content, mode)`` files, paths relative to ``/``."""
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, content, mode in files:
            data = content.encode("utf-8")
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(data)
            info.mode = mode
            info.mtime = now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class DockerRuntime:
    """Creates, starts, inspects, runs commands in and removes lab containers; opens their consoles and
    follows their output and the engine's events; imports, inspects and removes node images."""

    def __init__(self, client: docker.DockerClient | None = None, *, timeout: int = 120):
        try:
            self.client = client or docker.from_env(timeout=timeout)
            self.api = self.client.api
        except DockerException as exc:
            raise RuntimeStepError(f"cannot reach the Docker Engine: {_explain(exc)}") from None

    # Create a container (not started) with its files already in place; returns its ID.
    def create(self, *, name, image, labels, env, command, cpus, memory_mb, pids, capabilities, files=()) -> str:
        host_config = self.api.create_host_config(
            network_mode="none",
            nano_cpus=int(cpus * 1e9),
            mem_limit=f"{memory_mb}m",
            memswap_limit=f"{memory_mb}m",
            pids_limit=pids,
            cap_add=list(capabilities),
            init=True,
            # Node state lives in the lab document, not in the container: a
            # stopped container is never restarted behind the worker's back.
            restart_policy={"Name": "no"},
        )
        try:
            created = self.api.create_container(
                image=image, name=name, hostname=labels.get("topolab.node", name), labels=labels,
                environment=dict(env), command=list(command), host_config=host_config,
                network_disabled=False, detach=True, tty=False, stdin_open=False,
            )
        except ImageNotFound:
            raise RuntimeStepError(
                f"image '{image}' is not on this host (build the node images with 'manage.py lab images --build')"
            ) from None
        except APIError as exc:
            if exc.status_code == 404 and "image" in str(exc.explanation).lower():
                raise RuntimeStepError(f"image '{image}' is not on this host") from None
            raise RuntimeStepError(f"cannot create container: {_explain(exc)}") from None
        container_id = created["Id"]
        if files:
            try:
                self.api.put_archive(container_id, "/", _tar_of(files))
            except APIError as exc:
                raise RuntimeStepError(f"cannot put files into the container: {_explain(exc)}") from None
        return container_id

    # Start a created container and return its main process's PID (its namespaces).
    def start(self, container_id: str) -> int:
        try:
            self.api.start(container_id)
            state = self.api.inspect_container(container_id)["State"]
        except DockerException as exc:
            raise RuntimeStepError(f"cannot start container: {_explain(exc)}") from None
        if not state.get("Running") or not state.get("Pid"):
            raise RuntimeStepError(f"the container stopped at once (exit code {state.get('ExitCode')})")
        return int(state["Pid"])

    # Put files into a (running) container, in place: ``files`` are (path, content, mode).
    def put_files(self, container_id: str, files) -> None:
        try:
            self.api.put_archive(container_id, "/", _tar_of(files))
        except NotFound:
            raise ContainerGone("the node's container is gone") from None
        except APIError as exc:
            raise RuntimeStepError(f"cannot put files into the container: {_explain(exc)}") from None

    # Stop a node's container, keeping it to be started again: SIGTERM to its main process (docker-init passes
    # it on), SIGKILL after ``grace`` seconds; whatever else runs in it ends with it. ContainerGone when the
    # container no longer exists.
    def stop(self, container_id: str, grace: int = 2) -> None:
        try:
            self.api.stop(container_id, timeout=grace)
        except NotFound:
            raise ContainerGone("the node's container is gone") from None
        except DockerException as exc:
            raise RuntimeStepError(f"cannot stop container: {_explain(exc)}") from None

    # The PID of a running container's main process, or None when it is not running (or gone).
    def pid(self, container_id: str) -> int | None:
        try:
            state = self.api.inspect_container(container_id)["State"]
        except NotFound:
            return None
        return int(state["Pid"]) if state.get("Running") and state.get("Pid") else None

    # Containers carrying all the given label filters ("key=value"), with their effective labels
    # (names.effective_labels): a pool member a lab took is selected by its lab and node like any other.
    def list(self, label_filters: list[str]) -> list[ContainerInfo]:
        found = {c["Id"]: c for c in self.api.containers(all=True, filters={"label": label_filters})}
        wanted = dict(f.split("=", 1) for f in label_filters if "=" in f)
        if names.LABEL_LAB in wanted and names.LABEL_SITE in wanted:
            members = self.api.containers(all=True, filters={"label": [
                f"{names.LABEL_SITE}={wanted[names.LABEL_SITE]}", names.LABEL_POOL]})
            for c in members:
                found.setdefault(c["Id"], c)
        result = []
        for c in found.values():
            name = (c.get("Names") or ["?"])[0].lstrip("/")
            labels = names.effective_labels(c.get("Labels") or {}, name)
            if all(labels.get(k) == v for k, v in wanted.items()) and all(
                    k in labels for k in label_filters if "=" not in k):
                result.append(ContainerInfo(id=c["Id"], name=name, labels=labels, state=c.get("State", "")))
        return result

    # Give a container another name (a pool member taken by a lab: names.LABEL_POOL). False when the name is
    # taken (a container of that lab's node exists already) or the container is gone.
    def rename(self, container_id: str, name: str) -> bool:
        try:
            self.api.rename(container_id, name)
            return True
        except NotFound:
            return False
        except APIError as exc:
            if exc.status_code == 409:
                return False
            raise RuntimeStepError(f"cannot rename the container: {_explain(exc)}") from None

    # Change a running container's CPU, memory and pids limits (docker update).
    def update_limits(self, container_id: str, *, cpus: float, memory_mb: int, pids: int) -> None:
        body = {"NanoCpus": int(cpus * 1e9), "Memory": memory_mb * 1024 * 1024,
                "MemorySwap": memory_mb * 1024 * 1024, "PidsLimit": pids}
        try:
            self.api._result(self.api._post_json(self.api._url("/containers/{0}/update", container_id), data=body),
                             True)
        except NotFound:
            raise ContainerGone("the node's container is gone") from None
        except APIError as exc:
            raise RuntimeStepError(f"cannot set the container's limits: {_explain(exc)}") from None

    # Remove a container, whatever its state; False when it was already gone.
    def remove(self, container_id: str) -> bool:
        try:
            self.api.remove_container(container_id, force=True, v=True)
            return True
        except NotFound:
            return False
        except APIError as exc:
            if exc.status_code == 409 and "already in progress" in str(exc.explanation):
                return True
            raise RuntimeStepError(f"cannot remove container: {_explain(exc)}") from None

    # Run argv (a list, no shell of ours) in a running container and return its exit code. The output
    # (stdout and stderr together) is not returned: each chunk goes to ``stream(chunk)`` as it comes.
    # ``started(exec_id)`` is called once the exec exists. ContainerGone when the container is gone or
    # not running, RuntimeStepError for another refusal of the engine; a failure of the socket itself
    # (a timeout, a lost connection) is not caught here and reaches the caller as it is.
    def exec(self, container_id: str, argv: list[str], *, stream=None, user: str = "", started=None) -> int:
        try:
            handle = self.api.exec_create(container_id, list(argv), stdout=True, stderr=True, user=user)
            if started is not None:
                started(handle["Id"])  # so that another thread can end it (end_exec) at a deadline
            output = self.api.exec_start(handle["Id"], stream=True, demux=False)
            for chunk in output:
                if stream is not None:
                    stream(chunk)
            return self._exit_code(handle["Id"])
        except NotFound:
            raise ContainerGone("the node's container is gone") from None
        except APIError as exc:
            if _not_running(exc):
                raise ContainerGone(f"cannot run the command: {_explain(exc)}") from None
            raise RuntimeStepError(f"cannot run the command: {_explain(exc)}") from None

    # The exit status of an exec whose output has ended. The engine may say so a moment after the stream
    # closes ("Running" still true, "ExitCode" null): it is asked again for a while rather than taking that
    # for a success, and a command whose end is never seen is an error.
    def _exit_code(self, exec_id: str, patience: float = 5.0) -> int:
        deadline = time.monotonic() + patience
        while True:
            info = self.api.exec_inspect(exec_id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            if time.monotonic() > deadline:
                raise RuntimeStepError("the command's output ended but the engine never said how it exited")
            time.sleep(0.02)

    # True when the image is present on this host.
    def has_image(self, image: str) -> bool:
        try:
            self.api.inspect_image(image)
            return True
        except ImageNotFound:
            return False

    # An image's id, labels, size and creation time, or None when it is not on this host.
    def image_info(self, reference: str) -> dict | None:
        try:
            attrs = self.api.inspect_image(reference)
        except NotFound:
            return None
        except DockerException as exc:
            raise RuntimeStepError(f"cannot inspect image '{reference}': {_explain(exc)}") from None
        return {
            "id": attrs["Id"],
            "labels": (attrs.get("Config") or {}).get("Labels") or {},
            "size": attrs.get("Size"),
            "created": attrs.get("Created"),
        }

    # Import a root filesystem tar, streamed as byte chunks, as repository:tag with Dockerfile-style changes.
    def import_image(self, chunks, repository: str, tag: str, changes) -> None:
        try:
            reply = self.api.import_image(src=chunks, stream_src=True, repository=repository, tag=tag,
                                          changes=list(changes))
        except DockerException as exc:
            raise RuntimeStepError(f"cannot import the image: {_explain(exc)}") from None
        # The engine answers 200 with a JSON stream; a failure is an "error" entry in it.
        for line in str(reply).splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("error"):
                raise RuntimeStepError(f"cannot import the image: {entry['error']}")

    # Remove an image: None when it is gone (or already was), else why the engine kept it.
    def remove_image(self, image_id: str) -> str | None:
        try:
            self.api.remove_image(image_id)
        except NotFound:
            return None
        except DockerException as exc:
            return _explain(exc)
        return None

    # -- consoles (the relay): an interactive TTY exec whose raw socket the caller pumps --------

    # Start argv in a running container with a TTY and stdin, sized cols x rows: (exec id, the connected
    # socket, made non-blocking, bytes already read). ContainerGone when the container is gone or not running.
    def open_console(self, container_id: str, argv: list[str], cols: int, rows: int,
                     env: dict | None = None) -> tuple[str, "object", bytes]:
        try:
            handle = self.api.exec_create(container_id, list(argv), stdin=True, stdout=True, stderr=True,
                                          tty=True, environment=dict(env or {}))
            exec_id = handle["Id"]
            io_sock = self.api.exec_start(exec_id, tty=True, socket=True)
        except NotFound:
            raise ContainerGone("the node's container is gone") from None
        except APIError as exc:
            if _not_running(exc):
                raise ContainerGone(f"cannot open a console: {_explain(exc)}") from None
            raise RuntimeStepError(f"cannot open a console: {_explain(exc)}") from None
        sock = getattr(io_sock, "_sock", io_sock)
        sock.setblocking(False)
        early = b""
        # http.client may have buffered the first output bytes while it read the upgrade's headers.
        reader = getattr(getattr(getattr(io_sock, "_response", None), "raw", None), "_fp", None)
        buffered = getattr(reader, "fp", None)
        if buffered is not None:
            try:
                early = buffered.read1(65536) or b""
            except (BlockingIOError, OSError, ValueError):
                early = b""
        self.resize_console(exec_id, rows, cols)
        return exec_id, sock, early

    # Set the TTY size of a console exec; a failure is ignored (the exec may have ended).
    def resize_console(self, exec_id: str, rows: int, cols: int) -> None:
        try:
            self.api.exec_resize(exec_id, height=int(rows), width=int(cols))
        except DockerException:
            pass

    # The host PID of an exec's process while it runs, else None.
    def exec_pid(self, exec_id: str) -> int | None:
        try:
            info = self.api.exec_inspect(exec_id)
        except DockerException:
            return None
        return int(info["Pid"]) if info.get("Running") and info.get("Pid") else None

    # A container's own output from its start, followed live: an iterator of bytes with a close()
    # that ends it from another thread (docker-py's CancellableStream). ContainerGone when it is gone.
    def follow_logs(self, container_id: str):
        try:
            return self.api.logs(container_id, stdout=True, stderr=True, stream=True, follow=True)
        except NotFound:
            raise ContainerGone("the node's container is gone") from None
        except DockerException as exc:
            raise RuntimeStepError(f"cannot read the node's output: {_explain(exc)}") from None

    # (the labels, whether it is running) of a container, or None when it is gone.
    def labels_and_running(self, container_id: str) -> tuple[dict, bool] | None:
        try:
            attrs = self.api.inspect_container(container_id)
        except NotFound:
            return None
        except DockerException as exc:
            raise RuntimeStepError(f"cannot inspect the container: {_explain(exc)}") from None
        labels = names.effective_labels((attrs.get("Config") or {}).get("Labels") or {}, attrs.get("Name") or "")
        return labels, bool((attrs.get("State") or {}).get("Running"))

    # -- the watcher (topology/watcher.py): what happens to containers behind the engine's back -----

    # The engine's events matching ``filters`` (the engine's own: {"type": [...], "event": [...],
    # "label": ["k=v"]}, applied server-side), from ``since`` (a Unix time; None: from now), as they
    # happen: an iterator of event dicts with a close() that ends it from another thread (docker-py's
    # CancellableStream). It simply ends when the engine goes away (dockerd stopped or restarted).
    # RuntimeStepError when the engine cannot be reached or refuses the filters.
    def events(self, filters: dict, since: int | float | None = None):
        try:
            return self.api.events(since=since, filters=dict(filters), decode=True)
        except (DockerException, OSError) as exc:  # OSError: requests' own, when the socket is gone
            raise RuntimeStepError(f"cannot follow the Docker Engine's events: {_explain(exc)}") from None

    # A container's ``State`` as the engine reports it ({"Status", "Running", "ExitCode", "OOMKilled",
    # "Error", "FinishedAt", ...}), or None when it is gone.
    def container_state(self, container_id: str) -> dict | None:
        try:
            attrs = self.api.inspect_container(container_id)
        except NotFound:
            return None
        except (DockerException, OSError) as exc:  # OSError: requests' own, when the engine is going away
            raise RuntimeStepError(f"cannot inspect the container: {_explain(exc)}") from None
        return dict(attrs.get("State") or {})

    # End an exec's process as a terminal hang-up would: SIGHUP, and SIGKILL if it still runs `grace`
    # seconds later; returns once it is gone (or after another `grace` seconds).
    # Docker has no call for it, and closing a console's socket alone leaves its shell running.
    def end_exec(self, exec_id: str, grace: float = 1.0) -> None:
        import os
        import signal

        for sig in (signal.SIGHUP, signal.SIGKILL):
            pid = self.exec_pid(exec_id)
            if pid is None:
                return
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and self.exec_pid(exec_id) is not None:
                time.sleep(0.05)

    # -- probes (topology/probes.py): Topolab's own image inside a node's network namespace ----------

    # Create a probe (not started): a container of ``image`` that joins the network namespace of the running
    # container ``target`` (so it has no network of its own), every capability dropped but ``capabilities``,
    # no new privileges, a read-only root with a small /tmp, no init, no restart, removed by the engine once
    # its main process ends (``command`` is meant to end by itself: a probe a crash leaves behind goes too).
    def create_probe(self, *, name, image, labels, target, command, cpus, memory_mb, pids, capabilities) -> str:
        return self._create_throwaway(
            "probe", name=name, image=image, labels=labels, command=command, network_mode=f"container:{target}",
            cpus=cpus, memory_mb=memory_mb, pids=pids, capabilities=capabilities, tmpfs_size="1m")

    # Start a created probe. ContainerGone when the node's container it joins is gone (404) or not running
    # (409 "cannot join network of a non running container"); RuntimeStepError for another refusal.
    def start_probe(self, container_id: str) -> None:
        try:
            self.api.start(container_id)
        except NotFound as exc:
            raise ContainerGone(f"cannot start the probe: {_explain(exc)}") from None
        except APIError as exc:
            if exc.status_code == 409 and "running" in str(exc.explanation).lower():
                raise ContainerGone(f"cannot start the probe: {_explain(exc)}") from None
            raise RuntimeStepError(f"cannot start the probe: {_explain(exc)}") from None

    # -- sandboxes (topology/frr_worker.py): a throwaway container of a Topolab image with no network at all ------

    # Create a sandbox (not started): a container of ``image`` with no network (``network_mode="none"``), run as
    # ``user``, every capability dropped, no new privileges, a read-only root with a small /tmp, no init, no
    # restart, removed by the engine once its main process ends (``command`` is meant to end by itself). Start it
    # with :meth:`start`, run commands in it with :meth:`exec`, remove it with :meth:`remove`.
    def create_sandbox(self, *, name, image, labels, command, cpus, memory_mb, pids, user="") -> str:
        return self._create_throwaway(
            "sandbox", name=name, image=image, labels=labels, command=command, network_mode="none",
            cpus=cpus, memory_mb=memory_mb, pids=pids, capabilities=(), tmpfs_size="2m", user=user)

    # A short-lived, locked-down container (a probe in a node's namespace, a sandbox with no network): bounded
    # CPU, memory (no swap) and processes, every capability dropped but `capabilities`, no new privileges, a
    # read-only root with a small /tmp, removed by Docker when it ends.
    def _create_throwaway(self, what, *, name, image, labels, command, network_mode, cpus, memory_mb, pids,
                          capabilities, tmpfs_size, user="") -> str:
        host_config = self.api.create_host_config(
            network_mode=network_mode,
            nano_cpus=int(cpus * 1e9),
            mem_limit=f"{memory_mb}m",
            memswap_limit=f"{memory_mb}m",
            pids_limit=pids,
            cap_drop=["ALL"],
            cap_add=list(capabilities) or None,
            security_opt=["no-new-privileges"],
            read_only=True,
            tmpfs={"/tmp": f"size={tmpfs_size},mode=1777"},
            init=False,
            auto_remove=True,
            restart_policy={"Name": "no"},
        )
        extra = {"user": user, "network_disabled": True} if network_mode == "none" else {}
        try:
            created = self.api.create_container(
                image=image, name=name, labels=dict(labels), command=list(command), host_config=host_config,
                detach=True, tty=False, stdin_open=False, **extra,
            )
        except ImageNotFound:
            raise RuntimeStepError(f"image '{image}' is not on this host (build the node images with "
                                   "'manage.py lab images --build')") from None
        except APIError as exc:
            if exc.status_code == 404 and "image" in str(exc.explanation).lower():
                raise RuntimeStepError(f"image '{image}' is not on this host") from None
            raise RuntimeStepError(f"cannot create the {what}: {_explain(exc)}") from None
        return created["Id"]
