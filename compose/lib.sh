# Shared by compose/up and compose/test (sourced, not run): set this host up for Topolab.
#
# Every step checks before it acts, so a second run only starts what is not
# running and installs what is missing. Processes started here are remembered
# in STARTED_PIDS and stopped by stop_started(); processes that were already
# running (a system dockerd, a system Redis) are never touched.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
VENV=$REPO/.venv
# The same defaults as labsite/settings.py, so the web, the worker and these scripts agree.
DATA_DIR=$(realpath -m "${TOPOLAB_DATA_DIR:-$REPO/var}")
QUEUE=${TOPOLAB_QUEUE:-lab.$(hostname)}
DEFAULT_REDIS_URL=redis://127.0.0.1:6379/0
# Root-only: daemon logs and the Redis working directory. The web tier's user
# has no business reading dockerd's log.
LOG_DIR=$DATA_DIR/log
SERVICE_USER=topolab

# Given to every Topolab process started from here, but NOT exported: pytest
# must see the caller's own environment, because tests/environment.py gives a
# test run its own data dir, queue and site unless these are already set.
TOPOLAB_ENV=(TOPOLAB_DATA_DIR="$DATA_DIR" TOPOLAB_QUEUE="$QUEUE")

# pid -> name of every long-running process this script started, for stop_started().
declare -A STARTED_PIDS=()
STARTED_ORDER=()

say() { printf '[compose %s] %s\n' "$(date +%T)" "$*"; }
die() { printf '[compose %s] ERROR: %s\n' "$(date +%T)" "$*" >&2; exit 1; }

require_root() {
    # Docker, netlink, apt and useradd all need root; the web tier drops it below.
    [ "$(id -u)" -eq 0 ] || die "run me as root (sudo bash $0): I install packages and start the root lab worker"
}

# --- packages -------------------------------------------------------------------

# What a fresh Debian 12 lacks. --no-install-recommends keeps needrestart
# (interactive) and a git/apparmor tail off the host.
APT_PACKAGES=(
    docker.io            # the Docker Engine and CLI
    redis-server         # Celery broker and Channels layer
    redis-tools          # redis-cli, to see whether Redis answers
    debootstrap          # node images are built from Debian packages
    debian-archive-keyring  # debootstrap checks the archive's signatures
    gcc                  # compiles topolab/frr's capability shim (topology/native/frr_caps.c)
    libc6-dev            # its headers (dlfcn.h)
    python3-venv         # the project's virtualenv
    acl                  # setfacl, to let the service user reach the checkout
    iproute2             # ip: the tests look at host interfaces
    tcpdump              # the capture service (manage.py capture) runs it in nodes' network namespaces
    ca-certificates      # pip and apt over https
    procps               # ps/pgrep for humans debugging a run
    nodejs               # npm ci: the editor's JavaScript libraries (Cytoscape.js) from the npm registry
    npm
    chromium             # the browser tests (tests/e2e) drive Debian's Chromium through Playwright
)

install_packages() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        # A Node.js from elsewhere (NodeSource's nodejs ships npm and conflicts
        # with Debian's npm package) is as good as Debian's: keep it.
        case $pkg in
            nodejs) command -v node >/dev/null 2>&1 && continue ;;
            npm) command -v npm >/dev/null 2>&1 && continue ;;
        esac
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "apt packages: all present"
        return
    fi
    say "apt packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Without this, installing docker.io and redis-server would also start them
    # as system services (dockerd with a bridge and iptables rules, a persistent
    # Redis) that outlive this script. We start both below with our own flags,
    # and stop them at exit. policy-rc.d exit 101 = "do not start services"; it
    # is removed when apt is done, and an existing one is left alone.
    (
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            trap 'rm -f /usr/sbin/policy-rc.d' EXIT
            printf '#!/bin/sh\n# compose/lib.sh: no service starts during its apt-get install\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 0755 /usr/sbin/policy-rc.d
        fi
        apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
    )
}

# --- virtualenv -----------------------------------------------------------------

# The venv is rebuilt only when what it is made from changes: the lock, the
# project metadata (for the editable install) and the Python it runs on.
venv_fingerprint() {
    { sha256sum "$REPO/requirements.lock" "$REPO/pyproject.toml"; /usr/bin/python3 -VV; } | sha256sum | cut -d' ' -f1
}

ensure_venv() {
    local stamp=$VENV/.topolab-stamp want
    want=$(venv_fingerprint)
    if ! "$VENV/bin/python" -c '' 2>/dev/null; then
        say "virtualenv: creating $VENV"
        rm -rf "$VENV"
        /usr/bin/python3 -m venv "$VENV"
    elif [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        say "virtualenv: up to date"
        return
    fi
    # Installed over the existing venv rather than rebuilt from scratch: someone
    # may be running tests from it right now.
    say "virtualenv: installing requirements.lock"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$REPO/requirements.lock"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -e "$REPO"
    echo "$want" >"$stamp"
}

# --- JavaScript libraries -------------------------------------------------------------

# The editor's libraries come from the npm registry, pinned by package-lock.json,
# into node_modules/ (git-ignored); labsite/settings.py serves their dist folders
# as static files. `npm ci` runs again only when the lock changes.
ensure_js() {
    local stamp=$REPO/node_modules/.topolab-stamp want
    want=$(sha256sum "$REPO/package-lock.json" | cut -d' ' -f1)
    if [ -d "$REPO/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        say "JavaScript libraries: up to date"
        return
    fi
    say "JavaScript libraries: npm ci (package-lock.json)"
    (cd "$REPO" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) \
        || die "npm ci failed: is the npm registry reachable?"
    echo "$want" >"$stamp"
}

# --- the service user, its data dir and its access to the checkout --------------------

ensure_user() {
    if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
        say "creating the system user $SERVICE_USER (runs the web tier)"
        useradd --system --user-group --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin "$SERVICE_USER"
    fi
}

as_service_user_test() {
    # `test` as the service user, without PAM or a login: is this path reachable for it?
    setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups -- test "$@"
}

grant_traverse() {
    # The service user must be able to walk down to $1 (a checkout under /root,
    # mode 0700, is the common case). Give it search permission (x: enter, not
    # list or read) only on the ancestors that lack it, and nothing else.
    local dir=$1 ancestors=()
    while [ "$dir" != / ]; do
        dir=$(dirname "$dir")
        ancestors=("$dir" "${ancestors[@]}")
    done
    for dir in "${ancestors[@]}"; do
        if ! as_service_user_test -x "$dir"; then
            say "letting $SERVICE_USER traverse $dir (setfacl u:$SERVICE_USER:x)"
            setfacl -m "u:$SERVICE_USER:x" "$dir"
        fi
    done
}

ensure_checkout_access() {
    grant_traverse "$REPO"
    grant_traverse "$DATA_DIR"
    # A clone made with a strict umask (077) is unreadable for others: then, and
    # only then, grant read (files) and enter (directories) on the checkout,
    # except .git (not needed) and the data dir (owned by the service user).
    if ! as_service_user_test -r "$REPO/manage.py" || ! as_service_user_test -r "$REPO/labsite/settings.py" \
        || ! as_service_user_test -x "$VENV/bin/daphne"; then
        say "letting $SERVICE_USER read the checkout (setfacl -R u:$SERVICE_USER:rX, not .git)"
        setfacl -m "u:$SERVICE_USER:rx" "$REPO"
        find "$REPO" -mindepth 1 -maxdepth 1 ! -name .git ! -path "$DATA_DIR" -exec setfacl -R -m "u:$SERVICE_USER:rX" {} +
    fi
    as_service_user_test -r "$REPO/manage.py" || die "$SERVICE_USER still cannot read $REPO/manage.py"
}

ensure_data_dir() {
    # 2770: the service user and root share it; the setgid bit gives files root
    # creates here (the secret key, 0640) the service group, so the web can read them.
    mkdir -p "$DATA_DIR"
    chown "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR"
    chmod 2770 "$DATA_DIR"
    # The SQLite database must belong to the service user (the web writes it;
    # root's writes keep the owner). An earlier run as root may have made it.
    find "$DATA_DIR" -maxdepth 1 \( -name '*.sqlite3' -o -name '*.sqlite3-wal' -o -name '*.sqlite3-shm' \
        -o -name secret_key \) ! -user "$SERVICE_USER" -exec chown "$SERVICE_USER:$SERVICE_USER" {} +
    install -d -m 0750 -o root -g root "$LOG_DIR"
}

# --- daemons: start only what is not already answering ----------------------------

start_bg() {
    # start_bg NAME LOGFILE ARGV...: run ARGV in the background in its own
    # session (so a Ctrl-C reaches this script only, and we stop things in
    # order), and remember it. setsid execs without forking here (we are not a
    # process group leader), so $! is the process itself.
    local name=$1 log=$2
    shift 2
    if [ "$log" = - ]; then
        setsid "$@" </dev/null &
    else
        setsid "$@" </dev/null >>"$log" 2>&1 &
    fi
    STARTED_PIDS[$!]=$name
    STARTED_ORDER+=("$!")
}

wait_until() {
    # wait_until SECONDS PID COMMAND...: poll COMMAND until it succeeds; fail
    # early if PID (what we started, which should make COMMAND succeed) died.
    local seconds=$1 pid=$2 i
    shift 2
    for ((i = 0; i < seconds * 4; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        alive "$pid" || return 1
        sleep 0.25
    done
    return 1
}

alive() {
    # A child that exited but was not reaped yet is a zombie: kill -0 still succeeds on it.
    [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

ensure_dockerd() {
    if docker info >/dev/null 2>&1; then
        say "Docker Engine: already running, leaving it alone"
        return
    fi
    # No default bridge and no iptables rules: lab containers run with
    # network_mode=none and get their links from us, nothing else.
    say "Docker Engine: starting dockerd (log: $LOG_DIR/dockerd.log)"
    start_bg dockerd "$LOG_DIR/dockerd.log" dockerd --bridge=none --iptables=false
    wait_until 60 "$!" docker info \
        || die "dockerd did not come up; last lines of $LOG_DIR/dockerd.log:
$(tail -n 20 "$LOG_DIR/dockerd.log")"
}

# Redis authenticates every client: the ACL user "topolab" with a random
# password kept in $REDIS_SECRET (root and the service group may read it; the
# settings read it from there), and the default user off, so no other local
# process can queue tasks for the root worker. The password never appears on a
# command line (ps shows those to everybody): redis-cli reads REDISCLI_AUTH,
# and redis-server reads it from a root-only configuration file.
REDIS_SECRET=${TOPOLAB_REDIS_PASSWORD_FILE:-$DATA_DIR/redis-password}  # where labsite/settings.py reads it too
REDIS_USER=topolab

redis_password() { cat "$REDIS_SECRET"; }

redis_cli() {
    # redis_cli ARGS...: redis-cli as Topolab's user when it has a password, else as whoever the URL says.
    if [ -z "${REDIS_URL:-}" ] && [ -s "$REDIS_SECRET" ]; then
        REDISCLI_AUTH=$(redis_password) redis-cli --no-auth-warning -h 127.0.0.1 -p 6379 --user "$REDIS_USER" "$@"
    else
        redis-cli -u "${REDIS_URL:-$DEFAULT_REDIS_URL}" "$@"
    fi
}

redis_ping() {
    # redis-cli goes on as the default user when its AUTH fails, so a PONG alone proves nothing:
    # with our password, ask whom Redis took us for.
    if [ -z "${REDIS_URL:-}" ] && [ -s "$REDIS_SECRET" ]; then
        [ "$(redis_cli ACL WHOAMI 2>/dev/null)" = "$REDIS_USER" ]
    else
        [ "$(redis_cli ping 2>/dev/null)" = PONG ]
    fi
}
redis_open_ping() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

ensure_redis_secret() {
    [ -s "$REDIS_SECRET" ] && return
    say "Redis: making the password of its user '$REDIS_USER' ($REDIS_SECRET, mode 0640)"
    # Hex: safe in a URL and in redis.conf without quoting.
    (umask 027; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$REDIS_SECRET.new")
    chown "root:$SERVICE_USER" "$REDIS_SECRET.new"
    chmod 0640 "$REDIS_SECRET.new"
    mv "$REDIS_SECRET.new" "$REDIS_SECRET"
}

redis_config() {
    # The ACL of the Redis we start: nobody but Topolab's user (a root-only file: it holds the password).
    local conf=$LOG_DIR/redis.conf
    (umask 077; {
        echo "user default off"
        echo "user $REDIS_USER on >$(redis_password) ~* &* +@all"
    } >"$conf")
    echo "$conf"
}

ensure_redis() {
    if [ -n "${REDIS_URL:-}" ]; then
        # The administrator's own Redis (credentials in the URL): use it as it is.
        redis_ping || die "Redis at REDIS_URL does not answer (or refuses its credentials)"
        say "Redis: answering at the REDIS_URL given, leaving it alone"
        return
    fi
    ensure_redis_secret
    if redis_ping; then
        say "Redis: already answering at 127.0.0.1:6379 for user '$REDIS_USER', leaving it alone"
        return
    fi
    if redis_open_ping; then
        # A Redis we did not start, open to every local user: give Topolab its user there (its other
        # clients keep working), and say what is left to the administrator.
        say "Redis: one is already running on 127.0.0.1:6379 without a password for its default user;"
        say "  adding the user '$REDIS_USER' to it. Any local process can still reach that Redis: turn its"
        say "  default user off (user default off) or let Topolab start its own."
        # -x: the password rule comes from standard input, never the command line.
        printf '>%s' "$(redis_password)" | redis-cli -h 127.0.0.1 -p 6379 -x ACL SETUSER "$REDIS_USER" reset on \
            '~*' '&*' +@all >/dev/null || die "could not add the user '$REDIS_USER' to the running Redis"
        redis_ping || die "the running Redis refuses the user '$REDIS_USER'"
        return
    fi
    # Loopback only (DESIGN: Redis listens on loopback or a socket); no
    # persistence: it holds queued task IDs and channel messages, nothing to keep.
    say "Redis: starting redis-server on 127.0.0.1:6379, default user off (log: $LOG_DIR/redis.log)"
    start_bg redis "$LOG_DIR/redis.log" redis-server "$(redis_config)" --bind 127.0.0.1 --port 6379 \
        --daemonize no --protected-mode yes --save '' --appendonly no --dir "$LOG_DIR"
    wait_until 30 "$!" redis_ping \
        || die "redis-server did not come up; last lines of $LOG_DIR/redis.log:
$(tail -n 20 "$LOG_DIR/redis.log")"
}

# PostgreSQL (compose/test --postgres): Debian's server, its cluster started here if it does not answer
# (loopback only, Debian's default), a role and a database `topolab` whose password is in
# $POSTGRES_SECRET; DATABASE_URL is then exported for Django (labsite/settings.py reads it).
POSTGRES_SECRET=$DATA_DIR/postgres-password

postgres_sql() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"; }

ensure_postgres() {
    # ensure_postgres [--test]: the role may create databases only for the tests (each run makes its own).
    local createdb=NOCREATEDB
    [ "${1:-}" = --test ] && createdb=CREATEDB
    if ! command -v pg_lsclusters >/dev/null 2>&1; then
        say "PostgreSQL: installing Debian's postgresql"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null \
            || die "could not install postgresql"
    fi
    local version cluster_dir conf
    read -r version _ <<<"$(pg_lsclusters -h | awk '$2 == "main" {print $1, $4; exit}')"
    [ -n "$version" ] || die "PostgreSQL has no cluster 'main' (pg_createcluster --start <version> main makes one)"
    if ! runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p 5432; then
        cluster_dir=/var/lib/postgresql/$version/main
        conf=/etc/postgresql/$version/main/postgresql.conf
        say "PostgreSQL: starting the $version cluster on 127.0.0.1:5432 (log: $LOG_DIR/postgres.log)"
        install -d -m 2775 -o postgres -g postgres /var/run/postgresql
        start_bg postgres "$LOG_DIR/postgres.log" runuser -u postgres -- \
            "/usr/lib/postgresql/$version/bin/postgres" -D "$cluster_dir" -c "config_file=$conf" \
            -c listen_addresses=127.0.0.1
        wait_until 60 "$!" runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p 5432 \
            || die "PostgreSQL did not come up; last lines of $LOG_DIR/postgres.log:
$(tail -n 20 "$LOG_DIR/postgres.log")"
    fi
    if [ ! -s "$POSTGRES_SECRET" ]; then
        (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$POSTGRES_SECRET")
    fi
    # The password through a psql variable set on standard input, never on a command line.
    { printf "\\set password '%s'\n\\set createdb %s\n" "$(cat "$POSTGRES_SECRET")" "$createdb"; cat <<'SQL'; } \
        | postgres_sql >/dev/null \
        || die "could not make PostgreSQL's role 'topolab'"
SELECT format('CREATE ROLE topolab LOGIN PASSWORD %L', :'password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'topolab') \gexec
SELECT format('ALTER ROLE topolab LOGIN %s PASSWORD %L', :'createdb', :'password') \gexec
SELECT 'CREATE DATABASE topolab OWNER topolab' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'topolab') \gexec
SQL
    DATABASE_URL=postgres://topolab:$(cat "$POSTGRES_SECRET")@127.0.0.1:5432/topolab
    export DATABASE_URL
    say "PostgreSQL: database 'topolab' for role 'topolab' at 127.0.0.1:5432"
}

stop_pid() {
    # stop_pid PID NAME GRACE: SIGTERM, wait up to GRACE seconds, then SIGKILL; reap it.
    local pid=$1 name=$2 grace=$3 i
    alive "$pid" || { wait "$pid" 2>/dev/null || true; return; }
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 4; i++)); do
        alive "$pid" || break
        sleep 0.25
    done
    if alive "$pid"; then
        say "$name did not stop within ${grace}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

grace_for() {
    # The worker may be half-way through a deploy and dockerd stops containers: give them time.
    case $1 in
        worker | dockerd) echo 60 ;;
        *) echo 20 ;;
    esac
}

stop_started() {
    # Stop what this script started, newest first: web and worker, then Redis, then dockerd.
    local i pid
    for ((i = ${#STARTED_ORDER[@]} - 1; i >= 0; i--)); do
        pid=${STARTED_ORDER[i]}
        [ -n "${STARTED_PIDS[$pid]:-}" ] || continue
        if [ "${STARTED_PIDS[$pid]}" = dockerd ] && ! alive "$pid"; then
            # A test restarts dockerd (tests/integration/test_watcher.py) with the same arguments:
            # the one to stop is then the one its pid file names.
            local now
            now=$(cat /var/run/docker.pid 2>/dev/null || true)
            if [ -n "$now" ] && tr '\0' ' ' <"/proc/$now/cmdline" 2>/dev/null | grep -q -- '--bridge=none'; then
                stop_pid "$now" "dockerd (restarted by a test)" "$(grace_for dockerd)"
            fi
        fi
        stop_pid "$pid" "${STARTED_PIDS[$pid]}" "$(grace_for "${STARTED_PIDS[$pid]}")"
        unset "STARTED_PIDS[$pid]"
    done
    STARTED_ORDER=()
}

# --- the root workers ---------------------------------------------------------------------

# The same default as labsite/settings.py: the exec worker's threads, the most commands in nodes at once.
EXEC_CONCURRENCY=${TOPOLAB_EXEC_CONCURRENCY:-8}

exec_queue_of() {
    # The exec worker's queue, derived from the lab queue where the web tier derives it (topology/workers.py).
    (cd "$REPO" && "$VENV/bin/python" -c \
        'import sys; from topology.workers import exec_queue; print(exec_queue(sys.argv[1]))' "$1")
}

start_workers() {
    # Two root Celery workers, each with its own queue and pool: the lab worker builds and tears labs
    # down (this host's queue only), the exec worker runs commands in nodes. So however long the
    # commands users run, a deploy or a destroy always finds a thread.
    local exec_queue
    exec_queue=$(exec_queue_of "$QUEUE") || die "cannot derive the exec worker's queue from $QUEUE"
    say "starting the lab worker (root, queue $QUEUE)"
    start_bg worker - env "${TOPOLAB_ENV[@]}" "$VENV/bin/celery" -A labsite worker \
        -Q "$QUEUE" --pool threads --concurrency 4 --loglevel INFO -n "lab@%h"
    say "starting the exec worker (root, queue $exec_queue, $EXEC_CONCURRENCY threads)"
    start_bg exec-worker - env "${TOPOLAB_ENV[@]}" "$VENV/bin/celery" -A labsite worker \
        -Q "$exec_queue" --pool threads --concurrency "$EXEC_CONCURRENCY" --loglevel INFO -n "exec@%h"
}

# --- Django ---------------------------------------------------------------------------

manage_as_service_user() {
    # The database is created and migrated by the service user, so it owns the file.
    (cd "$REPO" && runuser -u "$SERVICE_USER" -- env "${TOPOLAB_ENV[@]}" "$VENV/bin/python" manage.py "$@")
}

manage_as_root() {
    (cd "$REPO" && env "${TOPOLAB_ENV[@]}" "$VENV/bin/python" manage.py "$@")
}

# --- all of it ------------------------------------------------------------------------

setup() {
    local t0=$SECONDS
    require_root
    cd "$REPO" || exit
    install_packages
    ensure_venv
    ensure_js
    ensure_user
    ensure_data_dir
    ensure_checkout_access
    ensure_dockerd
    ensure_redis
    say "database: migrating $DATA_DIR"
    manage_as_service_user migrate --noinput
    manage_as_service_user ensure_admin
    say "static files: collecting into $DATA_DIR/static"
    manage_as_service_user collectstatic --noinput --verbosity 0
    say "node images: building what is missing or outdated"
    manage_as_root lab images --build
    say "set-up done in $((SECONDS - t0))s"
}

# --- lab hosts: TLS and the packages of a host that runs only the root services ------------------

# A lab host needs no Redis, no web tier, no browser and no JavaScript: what APT_PACKAGES lists, less those.
LAB_HOST_PACKAGES=(docker.io redis-tools debootstrap debian-archive-keyring gcc libc6-dev python3-venv iproute2
                   tcpdump ca-certificates procps openssl)

install_lab_host_packages() {
    APT_PACKAGES=("${LAB_HOST_PACKAGES[@]}")
    install_packages
}

# Lab host names become Redis users, PostgreSQL roles and queues: keep them plain.
valid_host_name() { [[ $1 =~ ^[a-z0-9][a-z0-9-]{0,39}$ ]]; }

make_ca() {
    # make_ca KEY CERT: a self-signed CA (EC P-256, 10 years) for the site's Redis and PostgreSQL. The key stays
    # root-only on the site; lab hosts get the certificate in their join ticket.
    (umask 077; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=Topolab site CA ($(hostname))" -keyout "$1" -out "$2" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        >/dev/null 2>&1) || die "openssl could not make the CA ($2)"
}

make_server_cert() {
    # make_server_cert CA_KEY CA_CERT KEY CERT ADDRESS NAME: the site's server certificate (2 years), valid for
    # loopback (the site's own services use TLS too), ADDRESS (what lab hosts connect to) and NAME.
    local ca_key=$1 ca_cert=$2 key=$3 cert=$4 address=$5 name=$6 work san
    work=$(mktemp -d)
    san="DNS:localhost,IP:127.0.0.1,DNS:$name"
    case $address in *[!0-9.:a-fA-F]*) san+=",DNS:$address" ;; *) san+=",IP:$address" ;; esac
    printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
        "$san" >"$work/ext"
    (umask 077
     openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
         -keyout "$key" -out "$work/csr" >/dev/null 2>&1 \
     && openssl x509 -req -in "$work/csr" -CA "$ca_cert" -CAkey "$ca_key" -days 730 -sha256 \
         -set_serial "0x$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" -extfile "$work/ext" -out "$cert" >/dev/null 2>&1)
    local status=$?
    rm -rf "$work"
    [ "$status" -eq 0 ] || die "openssl could not make the server certificate ($cert)"
}

load_env_file() {
    # load_env_file FILE [ROOT]: export the KEY=VALUE lines of one of compose/install's environment files into
    # this shell (never onto a command line: they may hold passwords). With ROOT, paths under /etc/topolab are
    # read from the tree ROOT instead (compose/install --root: as if ROOT were /).
    local file=$1 root=${2:-} key value
    [ -r "$file" ] || die "$file is not there: run compose/install first"
    while IFS= read -r line; do
        case $line in "" | "#"*) continue ;; esac
        key=${line%%=*} value=${line#*=}
        [[ $key =~ ^[A-Z_][A-Z0-9_]*$ ]] || die "$file: '$key' is not a variable name"
        if [ -n "$root" ]; then
            value=${value//"=/etc/topolab/"/"=$root/etc/topolab/"}  # sslrootcert=... inside a URL
            case $value in /etc/topolab/*) value=$root$value ;; esac
        fi
        export "$key=$value"
    done <"$file"
}

# A lab host's own role on the site's PostgreSQL (compose/lab-host): a member of topolab (whose tables it uses) and
# of topolab_lab_hosts (whom /etc/topolab/pg_hba.conf admits from the lab network, over TLS only). The password
# through a psql variable on standard input, never on a command line.
make_lab_host_role() {
    { printf "\\set role %s\n\\set password '%s'\n" "$1" "$2"; cat <<'SQL'; } \
        | postgres_sql -d topolab >/dev/null || die "could not make PostgreSQL's role $1"
SELECT 'CREATE ROLE topolab_lab_hosts NOLOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'topolab_lab_hosts') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN INHERIT PASSWORD %L', :'role', :'password') \gexec
SELECT format('GRANT topolab, topolab_lab_hosts TO %I', :'role') \gexec
SQL
}

# drop_lab_host_role ROLE: the role goes, its open sessions with it (DROP ROLE alone leaves them working): first no
# new logins, then its backends ended, then the role dropped.
drop_lab_host_role() {
    { printf '\\set role %s\n' "$1"; cat <<'SQL'; } | postgres_sql -d topolab >/dev/null || die "could not drop PostgreSQL's role $1"
SELECT format('ALTER ROLE %I NOLOGIN', :'role') FROM pg_roles WHERE rolname = :'role' \gexec
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = :'role';
SELECT format('DROP ROLE IF EXISTS %I', :'role') \gexec
SQL
}
