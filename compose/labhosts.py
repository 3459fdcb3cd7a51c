"""The network half of admitting lab hosts, for compose/lab-host (the site) and compose/install --lab-host (the host).

Run by those scripts with the virtualenv's Python, never imported by Topolab. Secrets travel on standard input
and output and in the environment, never on a command line (``ps`` shows those to every local user).

The join ticket, the file ``compose/lab-host invite NAME`` writes (mode 0600) and the administrator carries to
the new host, holds the site's Redis address, the CA certificate that signed the site's server certificate, and
a one-time credential: the Redis user ``join.NAME`` whose password is a fresh random token and whose only right
is to read and delete the one key ``topolab:join:NAME``. That key holds the host's real credentials (its own
Redis user ``host.NAME``, its database URL) and lapses with the invitation (``--ttl``). The host reads it over
TLS, checking the server against the ticket's CA, proves the credentials work, and only then deletes the key:
the ticket is spent, and a second use is told so. A Redis restart forgets pending invitations (the site's Redis
keeps nothing on disk): invite again.

Subcommands (each exits 2 with one line on stderr saying what failed and where):

- ``invite NAME TTL``: on the site, with its environment; prints the ticket (JSON) on stdout.
  Environment: LAB_HOST_ADDRESS (what hosts connect to), LAB_HOST_ACL (the ACL file of lab hosts' users),
  LAB_HOST_DATABASE_URL (the host's database URL), TOPOLAB_REDIS_CA (the CA certificate).
- ``remove NAME``: on the site: the host's users and any pending invitation go, from Redis and the ACL file.
- ``fetch TICKET``: on the host: prints the host's credentials (JSON) read with the ticket, without spending it.
- ``check``: on the host, with the environment it is about to install: Redis answers over TLS as the host's
  user, and the database accepts the host.
- ``claim TICKET``: on the host: spends the ticket (deletes its key); fails if someone spent it first.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import secrets
import ssl
import sys
import tempfile
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# What a lab host's root services do with Redis: Celery's queues, results and control messages, the channel
# layers, leases and heartbeats. Not the server's administration (CONFIG, ACL, SHUTDOWN, FLUSHALL, MONITOR,
# DEBUG, replication...: @admin and @dangerous), except INFO, which Celery's workers ask at start.
HOST_RULES = ["resetchannels", "&*", "resetkeys", "~*", "nocommands", "+@all", "-@admin", "-@dangerous", "+info"]
JOIN_KEY = "topolab:join:{name}"


class Refused(Exception):
    """What went wrong, said to the administrator as it is."""


def ca_file(pem: str) -> str:
    """The CA certificate in a private temporary file (redis-py wants a path); removed at exit."""
    handle = tempfile.NamedTemporaryFile("w", prefix="topolab-ca-", suffix=".pem", delete=False)
    with handle:
        handle.write(pem)
    import atexit
    atexit.register(os.unlink, handle.name)
    return handle.name


def connect(host: str, port: int, db: int, user: str, password: str, ca: str) -> redis.Redis:
    """A TLS connection to the site's Redis as ``user``, the server checked against ``ca``; Refused says why not."""
    client = redis.Redis(host=host, port=port, db=db, username=user, password=password, ssl=True, ssl_ca_certs=ca,
                         ssl_cert_reqs="required", socket_timeout=10, socket_connect_timeout=10, decode_responses=True)
    where = f"the site's Redis at {host}:{port}"
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise Refused(f"{where} refused the user '{user}' ({exc}): the ticket is wrong, was withdrawn "
                      f"(compose/lab-host remove), or the site's Redis restarted since; ask for a new one") from None
    except redis.ConnectionError as exc:
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text or isinstance(
                exc.__cause__ or exc.__context__, ssl.SSLCertVerificationError):
            raise Refused(f"{where} presented a certificate that the ticket's CA did not sign, or not for that "
                          f"address ({text}): this ticket is for another site, or someone is in between") from None
        raise Refused(f"cannot reach {where} over TLS ({text}): is the site's Redis running with lab hosts "
                      f"allowed, and does its firewall let this host reach port {port}?") from None
    except redis.RedisError as exc:
        raise Refused(f"{where} refused the user '{user}': {exc}") from None
    return client


def admin_client() -> redis.Redis:
    """The site's own Redis as the site's user (compose/lab-host loaded the site's environment)."""
    from labsite.settings import redis_url
    client = redis.Redis.from_url(redis_url(os.environ), socket_timeout=10, decode_responses=True)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise Refused(f"the site's Redis does not answer ({exc}): start it (systemctl start redis-server) "
                      f"with the settings compose/install --allow-lab-hosts wrote") from None
    return client


def acl_without(path: Path, name: str) -> list[str]:
    """The ACL file's lines but the host ``name``'s."""
    lines = path.read_text().splitlines() if path.exists() else []
    return [line for line in lines if not line.startswith(f"user host.{name} ")]


def write_acl(path: Path, lines: list[str]) -> None:
    """Rewrite the ACL file in place (its mode and group, which let Redis read it, stay)."""
    with open(path, "r+") as handle:
        handle.seek(0)
        handle.write("".join(line + "\n" for line in lines))
        handle.truncate()


def prune(client: redis.Redis) -> None:
    """Join users whose invitation lapsed or was spent go: they could only read a key that no longer exists."""
    for user in client.acl_users():
        if user.startswith("join.") and not client.exists(JOIN_KEY.format(name=user.removeprefix("join."))):
            client.acl_deluser(user)


def invite(name: str, ttl: int) -> dict:
    """Make the host's users and the invitation; the ticket."""
    client = admin_client()
    prune(client)
    password, token = secrets.token_hex(32), secrets.token_hex(32)
    acl = Path(os.environ["LAB_HOST_ACL"])
    # The host's user, in the running Redis and in the file it reads at its next start: by the password's SHA-256
    # only (Redis's #<hash> rule), since the site never needs the password itself once the ticket is written.
    digest = hashlib.sha256(password.encode()).hexdigest()
    rule = " ".join(["on", f"#{digest}", *HOST_RULES])
    write_acl(acl, [*acl_without(acl, name), f"user host.{name} {rule}"])
    client.acl_setuser(f"host.{name}", reset=True, enabled=True, hashed_passwords=[f"+{digest}"], keys=["*"],
                       channels=["*"], commands=["+@all", "-@admin", "-@dangerous", "+info"])
    key = JOIN_KEY.format(name=name)
    site = os.environ["LAB_HOST_ADDRESS"]
    port = int(os.environ.get("TOPOLAB_REDIS_PORT") or "6380")
    db = int(os.environ.get("TOPOLAB_REDIS_DB") or "0")
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=ttl)
    bundle = {"name": name, "redis_host": site, "redis_port": port, "redis_db": db, "redis_user": f"host.{name}",
              "redis_password": password, "database_url": os.environ["LAB_HOST_DATABASE_URL"],
              "site": os.environ.get("TOPOLAB_SITE") or "default"}
    client.set(key, json.dumps(bundle), ex=ttl)
    # The join user: GET and DEL of its one key, nothing else (AUTH and HELLO are every user's).
    client.acl_setuser(f"join.{name}", reset=True, enabled=True, passwords=[f"+{token}"], keys=[key],
                       commands=["+select", "+get", "+del", "+ping"])
    return {"topolab_join": 1, "name": name, "redis_host": site, "redis_port": port, "redis_db": db, "user": f"join.{name}",
            "token": token, "key": key, "expires": expires.isoformat(timespec="seconds"),
            "ca": Path(os.environ["TOPOLAB_REDIS_CA"]).read_text()}


def remove(name: str) -> None:
    """The host ``name`` can no longer reach the site's Redis."""
    client = admin_client()
    client.acl_deluser(f"host.{name}", f"join.{name}")
    client.delete(JOIN_KEY.format(name=name))
    acl = Path(os.environ["LAB_HOST_ACL"])
    if acl.exists():
        write_acl(acl, acl_without(acl, name))


def read_ticket(path: str) -> dict:
    """The ticket, checked for its shape."""
    try:
        ticket = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise Refused(f"{path} is not a join ticket ({exc})") from None
    needed = ("topolab_join", "name", "redis_host", "redis_port", "redis_db", "user", "token", "key", "expires", "ca")
    if not isinstance(ticket, dict) or any(k not in ticket for k in needed):
        raise Refused(f"{path} is not a join ticket (compose/lab-host invite NAME on the site writes one)")
    expires = datetime.datetime.fromisoformat(ticket["expires"])
    if expires < datetime.datetime.now(datetime.UTC):
        raise Refused(f"{path} expired at {ticket['expires']}: ask the site's administrator for a new one")
    return ticket


def ticket_client(ticket: dict) -> redis.Redis:
    return connect(ticket["redis_host"], int(ticket["redis_port"]), int(ticket["redis_db"]), ticket["user"], ticket["token"],
                   ca_file(ticket["ca"]))


def fetch(path: str) -> dict:
    """The host's credentials, read (not spent) with the ticket."""
    ticket = read_ticket(path)
    try:
        value = ticket_client(ticket).get(ticket["key"])
    except redis.RedisError as exc:
        raise Refused(f"the site's Redis refused to read the invitation with {path}: {exc}") from None
    if value is None:
        raise Refused(f"{path} was used already or its invitation lapsed: ask the site's administrator for a new "
                      f"one (compose/lab-host invite {ticket['name']})")
    return {**json.loads(value), "ca": ticket["ca"]}


def claim(path: str) -> None:
    """Spend the ticket; Refused if it was spent meanwhile."""
    ticket = read_ticket(path)
    try:
        spent = ticket_client(ticket).delete(ticket["key"])
    except redis.RedisError as exc:
        raise Refused(f"the site's Redis refused to spend {path}: {exc}") from None
    if spent != 1:
        raise Refused(f"{path} was used by someone else while this host joined: nothing was installed")


def check() -> None:
    """The environment about to be installed works: Redis over TLS as the host's user, and the database."""
    from labsite.settings import redis_url
    url = redis_url(os.environ)
    if not url.startswith("rediss://"):
        raise Refused("the lab host's Redis URL is not TLS (rediss://): refusing to send credentials in clear")
    user = os.environ.get("TOPOLAB_REDIS_USER", "")
    client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10, decode_responses=True)
    try:
        whoami = client.acl_whoami()
    except redis.RedisError as exc:
        raise Refused(f"the site's Redis refuses the host's own user '{user}' ({exc})") from None
    if whoami != user:
        raise Refused(f"the site's Redis took this host for '{whoami}', not '{user}'")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labsite.settings")
    import django
    django.setup()
    from django.db import connection
    from django.db.utils import Error
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Error as exc:
        where = connection.settings_dict.get("HOST") or connection.settings_dict.get("NAME")
        raise Refused(f"the site's database at {where} refuses this host or does not answer "
                      f"({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})") from None


def main(argv: list[str]) -> int:
    command, *args = argv or ["help"]
    try:
        if command == "invite":
            json.dump(invite(args[0], int(args[1])), sys.stdout)
        elif command == "remove":
            remove(args[0])
        elif command == "fetch":
            json.dump(fetch(args[0]), sys.stdout)
        elif command == "claim":
            claim(args[0])
        elif command == "check":
            check()
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Refused as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
