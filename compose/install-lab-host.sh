# Sourced by compose/install --lab-host --join TICKET (not run): this host runs only the root services, for the
# site that wrote TICKET (compose/lab-host invite NAME).
#
# In this order, so that a refusal leaves nothing installed and the ticket unspent:
#   1. set-up (without --no-setup): apt packages of a lab host (no Redis, no PostgreSQL, no browser), the virtualenv
#   2. the ticket's credentials, read over TLS from the site's Redis (the server checked against the ticket's CA)
#   3. the environment this host will have, tried: Redis as the host's own user over TLS, and the database
#   4. the ticket spent (its key deleted in the site's Redis; a second use is refused)
#   5. the files written (topolab.env 0600, redis-password 0600, tls/ca.pem, the four root units, the target, the
#      docker drop-in), listed in the manifest; any failure here removes what was written
#   6. set-up again: the data dir, dockerd, the node images; the units enabled (and started under systemd)
# Expects compose/install's put/render/root_unit/finish_manifest and its variables.

labhosts() { (cd "$REPO" && "$VENV/bin/python" "$REPO/compose/labhosts.py" "$@"); }

if [ "$SETUP" -eq 1 ]; then
    install_lab_host_packages
    ensure_venv
fi
[ -x "$VENV/bin/celery" ] || die "no virtualenv at $VENV: run compose/install --lab-host without --no-setup first"

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
say "joining: reading this host's credentials from the site with $TICKET"
(umask 077; labhosts fetch "$TICKET" >"$STAGE/bundle.json") || die "not joined (nothing installed): see above"
field() {
    # One value the site sent; none but the CA may span lines: each becomes one line of topolab.env, and a line more
    # (LD_PRELOAD=..., say) would be an environment variable of every root service.
    "$VENV/bin/python" -c 'import json, sys
value = str(json.load(open(sys.argv[1]))[sys.argv[2]])
if sys.argv[2] != "ca" and ("\n" in value or "\r" in value):
    sys.exit(f"the site sent a {sys.argv[2]} of several lines: refusing it")
sys.stdout.write(value)' "$STAGE/bundle.json" "$1"
}
NAME=$(field name)
valid_host_name "$NAME" || die "the site gave this host the name '$NAME', which is not a lab host's name"
QUEUE=lab.$NAME
EXEC_QUEUE=$(exec_queue_of "$QUEUE") || die "cannot derive the exec worker's queue from $QUEUE"
(umask 077
 field ca >"$STAGE/ca.pem"
 field redis_password >"$STAGE/redis-password"
 field database_url >"$STAGE/database-url")
SITE_ADDRESS=$(field redis_host)
SITE_PORT=$(field redis_port)
REDIS_USER_OF_HOST=$(field redis_user)
SITE_LABEL=$(field site)  # here, not in env_file's here-document, where a failing $(...) would not stop the install
SITE_DB=$(field redis_db)
[[ $SITE_PORT =~ ^[0-9]+$ && $SITE_DB =~ ^[0-9]+$ ]] || die "the site sent a Redis port or database that is not a number"

env_file() {
    # env_file ETC_DIR: this host's environment, its files under ETC_DIR (the real one, or the stage to try it).
    cat <<EOF
# Topolab lab host '$NAME' of the site at $SITE_ADDRESS (compose/install --lab-host wrote it, $(date -u +%F)).
# Root only: the database's URL holds this host's password. labsite/settings.py lists the other settings.
TOPOLAB_DATA_DIR=$DATA_DIR
TOPOLAB_HOST_NAME=$NAME
TOPOLAB_QUEUE=$QUEUE
TOPOLAB_EXEC_QUEUE=$EXEC_QUEUE
TOPOLAB_EXEC_CONCURRENCY=$EXEC_CONCURRENCY
TOPOLAB_SITE=$SITE_LABEL
TOPOLAB_REDIS_HOST=$SITE_ADDRESS
TOPOLAB_REDIS_PORT=$SITE_PORT
TOPOLAB_REDIS_DB=$SITE_DB
TOPOLAB_REDIS_USER=$REDIS_USER_OF_HOST
TOPOLAB_REDIS_PASSWORD_FILE=$1/redis-password
TOPOLAB_REDIS_CA=$1/tls/ca.pem
DATABASE_URL=$(cat "$STAGE/database-url" | sed "s#sslrootcert=/etc/topolab/#sslrootcert=$1/#")
EOF
}

say "joining: trying Redis as $REDIS_USER_OF_HOST over TLS, and the site's database"
mkdir -p "$STAGE/tls"
cp "$STAGE/ca.pem" "$STAGE/tls/ca.pem"
(umask 077; env_file "$STAGE" >"$STAGE/topolab.env")
(unset REDIS_URL; load_env_file "$STAGE/topolab.env"; export TOPOLAB_DATA_DIR=$STAGE/data; labhosts check) \
    || die "not joined (nothing installed, the ticket is still good): see above"
labhosts claim "$TICKET" || die "not joined (nothing installed): see above"

# --- written, and all of it removed again if anything fails from here ------------------------------------------

rollback() {
    local status=$? path
    rm -rf "$STAGE"
    [ "$status" -eq 0 ] && return
    # The units may be enabled, even started, already: no link or process may outlive their files.
    local units=(topolab.target topolab-worker.service topolab-exec-worker.service topolab-relay.service
                 topolab-capture.service)
    if [[ " ${WRITTEN[*]} " != *" /etc/systemd/system/topolab.target "* ]]; then
        :  # none written yet: whatever is enabled is not this join's
    elif [ -n "$ROOT" ]; then
        systemctl --root="$ROOT" disable "${units[@]}" >/dev/null 2>&1 || true
    else
        if [ -d /run/systemd/system ]; then systemctl stop "${units[@]}" >/dev/null 2>&1 || true; fi
        systemctl disable "${units[@]}" >/dev/null 2>&1 || true
    fi
    for path in "${WRITTEN[@]}"; do
        case $path in */) ;; *) rm -f -- "$ROOT$path" ;; esac
    done
    for ((i = ${#WRITTEN[@]} - 1; i >= 0; i--)); do
        case ${WRITTEN[i]} in */) rmdir -- "$ROOT${WRITTEN[i]}" 2>/dev/null || true ;; esac
    done
    # And, once empty, the two directories made below without being listed (as compose/uninstall's last step).
    rmdir -- "$UNITS/docker.service.d" "$ETC" 2>/dev/null || true
    say "removed what this join had written; the ticket is spent: ask the site for a new one"
}
trap rollback EXIT
install -d -m 0755 "$UNITS" "$UNITS/docker.service.d" "$ETC"
make_dir 0755 "$ETC/tls"
say "writing this lab host's environment ($ETC/topolab.env) and the units ($UNITS)"
put 0644 "$ETC/tls/ca.pem" <"$STAGE/ca.pem"
put 0600 "$ETC/redis-password" <"$STAGE/redis-password"
env_file /etc/topolab | put 0600 "$ETC/topolab.env"
render "$SYSTEMD_SRC/topolab.target.in" WHAT="a lab host: the lab worker, the exec worker, the console relay and the capture service" \
    SERVICES="topolab-worker.service topolab-exec-worker.service topolab-relay.service topolab-capture.service" \
    | put 0644 "$UNITS/topolab.target"
LOCAL_UNITS=  # its Redis and database are the site's, over the network
# %%h: the worker's name is lab@<host name> (a lone % would be one of systemd's own specifiers).
root_unit worker "lab worker" "Docker and netlink: it builds and tears labs down" \
    "$VENV/bin/celery -A labsite worker -Q \${TOPOLAB_QUEUE} --pool threads --concurrency 4 --loglevel INFO -n lab@%%h"
root_unit exec-worker "exec worker" "it runs commands in nodes' namespaces" \
    "$VENV/bin/celery -A labsite worker -Q \${TOPOLAB_EXEC_QUEUE} --pool threads --concurrency \${TOPOLAB_EXEC_CONCURRENCY} --loglevel INFO -n exec@%%h"
root_unit relay "console relay" "it opens the consoles' docker exec TTYs" "$VENV/bin/python $REPO/manage.py relay"
root_unit capture "capture service" "tcpdump inside nodes' network namespaces" "$VENV/bin/python $REPO/manage.py capture"
put 0644 "$UNITS/docker.service.d/topolab.conf" <"$SYSTEMD_SRC/docker.conf"
finish_manifest

SERVICES=(topolab-worker topolab-exec-worker topolab-relay topolab-capture)
if [ -n "$ROOT" ]; then
    systemctl --root="$ROOT" enable topolab.target "${SERVICES[@]/%/.service}" >/dev/null 2>&1 \
        || die "systemctl --root=$ROOT enable failed"
    trap - EXIT
    rm -rf "$STAGE"
    say "lab host $NAME installed under $ROOT (nothing started): compose/uninstall --root $ROOT removes it"
    return 0
fi
if [ "$SETUP" -eq 1 ]; then
    trap 'rollback; stop_started' EXIT
    install -d -m 0750 "$DATA_DIR" "$LOG_DIR"
    ensure_dockerd
    say "node images: building what is missing or outdated"
    (cd "$REPO" && load_env_file "$ETC/topolab.env" && "$VENV/bin/python" manage.py lab images --build) \
        || die "building the node images failed"
    stop_started
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable docker.service topolab.target "${SERVICES[@]/%/.service}"
    systemctl restart docker.service
    systemctl restart topolab.target
    trap - EXIT
    rm -rf "$STAGE"
    say "lab host $NAME joined the site at $SITE_ADDRESS: systemctl status topolab.target; journalctl -u 'topolab-*'"
else
    systemctl enable docker.service topolab.target "${SERVICES[@]/%/.service}" >/dev/null 2>&1 \
        || die "systemctl enable failed"
    trap - EXIT
    rm -rf "$STAGE"
    say "lab host $NAME joined the site at $SITE_ADDRESS; systemd is not this machine's init (PID 1 is"
    say "  $(cat /proc/1/comm)): the units are installed and enabled, and start at the next boot under systemd"
fi
return 0
