# Sourced by compose/install --allow-lab-hosts ADDRESS --lab-network CIDR (not run): the site admits lab hosts.
#
# Writes, each listed in the manifest:
#   /etc/topolab/tls/ca.key, ca.pem        the site's own CA (made once, kept across installs: lab hosts trust it)
#   /etc/topolab/tls/server.crt            the server certificate: localhost, 127.0.0.1, ADDRESS, this host's name
#   /etc/topolab/tls/redis.key             its key, for Redis (root:redis 0640)
#   /etc/topolab/tls/postgres.key          the same key, for PostgreSQL (root:postgres 0640), with --postgres
#   /etc/topolab/redis-tls.conf            Redis: no plaintext port at all, TLS on TOPOLAB_REDIS_TLS_PORT
#   /etc/topolab/redis-lab-hosts.acl       one ACL user per lab host (compose/lab-host fills it; kept across installs)
#   /etc/topolab/lab-hosts.conf            what compose/lab-host needs: the address, the network, the database
#   with --postgres (the local PostgreSQL compose/install manages):
#   /etc/postgresql/<v>/main/conf.d/topolab.conf   listen on ADDRESS too, ssl on, scram-sha-256, our pg_hba
#   /etc/topolab/pg_hba.conf               Debian's rules, then lab hosts' roles from CIDR over TLS only
# Expects compose/install's put/make_dir and its variables (ROOT, ETC, ALLOW_ADDRESS, ALLOW_NETWORK, TLS_PORT...).

TLS=$ETC/tls
make_dir 0755 "$TLS"
say "admitting lab hosts: Redis over TLS on $ALLOW_ADDRESS:$TLS_PORT (CA and certificates in $TLS)"

# The CA once: a new one would strand every lab host that trusts the old. Its key never leaves this file.
if [ ! -s "$TLS/ca.key" ] || [ ! -s "$TLS/ca.pem" ]; then
    make_ca "$TLS/ca.key.made" "$TLS/ca.pem.made"
    put 0600 "$TLS/ca.key" <"$TLS/ca.key.made"
    put 0644 "$TLS/ca.pem" <"$TLS/ca.pem.made"
    rm -f "$TLS/ca.key.made" "$TLS/ca.pem.made"
else
    put 0600 "$TLS/ca.key" <"$TLS/ca.key"
    put 0644 "$TLS/ca.pem" <"$TLS/ca.pem"
fi
# The server's certificate anew at each install (the address may have changed): one key, a copy per server,
# each readable by its server's group only (PostgreSQL refuses a key that others may read).
make_server_cert "$TLS/ca.key" "$TLS/ca.pem" "$TLS/server.key.made" "$TLS/server.crt.made" "$ALLOW_ADDRESS" \
    "$(hostname -f 2>/dev/null || hostname)"
put 0644 "$TLS/server.crt" <"$TLS/server.crt.made"
put 0640 "$TLS/redis.key" <"$TLS/server.key.made"
LAB_HOSTS_DATABASE=none
if [ "$POSTGRES" -eq 1 ] && [ -z "$ADMIN_DATABASE_URL" ]; then
    LAB_HOSTS_DATABASE=local
    put 0640 "$TLS/postgres.key" <"$TLS/server.key.made"
elif [ -n "$ADMIN_DATABASE_URL" ]; then
    LAB_HOSTS_DATABASE=url
fi
rm -f "$TLS/server.key.made" "$TLS/server.crt.made"
if [ -z "$ROOT" ]; then
    if id redis >/dev/null 2>&1; then chgrp redis "$TLS/redis.key"; fi
    if [ "$LAB_HOSTS_DATABASE" = local ]; then chgrp postgres "$TLS/postgres.key"; fi
fi

put 0644 "$ETC/redis-tls.conf" <<EOF
# compose/install --allow-lab-hosts: no plaintext port (lab hosts reach Redis over the network; the site's own
# services use TLS over loopback too), TLS 1.2 or 1.3 with the site's certificate. Clients prove who they are by
# their ACL user's password (redis-users.acl, redis-lab-hosts.acl), not by certificates.
port 0
tls-port $TLS_PORT
tls-cert-file /etc/topolab/tls/server.crt
tls-key-file /etc/topolab/tls/redis.key
tls-ca-cert-file /etc/topolab/tls/ca.pem
tls-auth-clients no
tls-protocols "TLSv1.2 TLSv1.3"
EOF
# Lab hosts' users: compose/lab-host adds and removes them; a new install keeps them.
if [ -s "$ETC/redis-lab-hosts.acl" ]; then
    put 0640 "$ETC/redis-lab-hosts.acl" <"$ETC/redis-lab-hosts.acl"
else
    put 0640 "$ETC/redis-lab-hosts.acl" </dev/null
fi
if [ -z "$ROOT" ] && id redis >/dev/null 2>&1; then chgrp redis "$ETC/redis-lab-hosts.acl"; fi

put 0644 "$ETC/lab-hosts.conf" <<EOF
# compose/install --allow-lab-hosts: read by compose/lab-host (and by a later compose/install, which goes on
# admitting lab hosts). LAB_HOSTS_DATABASE: local (compose/install's PostgreSQL: each host gets a role), url (your
# own DATABASE_URL: give hosts TOPOLAB_LAB_HOST_DATABASE_URL), none (SQLite: lab hosts cannot join).
LAB_HOSTS_ADDRESS=$ALLOW_ADDRESS
LAB_HOSTS_NETWORK=$ALLOW_NETWORK
LAB_HOSTS_DATABASE=$LAB_HOSTS_DATABASE
EOF

if [ "$LAB_HOSTS_DATABASE" = local ]; then
    PG_VERSION=$(pg_lsclusters -h 2>/dev/null | awk '$2 == "main" {print $1; exit}')
    [ -n "$PG_VERSION" ] || die "--allow-lab-hosts --postgres: Debian's PostgreSQL has no cluster 'main' here"
    PG_ETC=/etc/postgresql/$PG_VERSION/main
    say "admitting lab hosts: PostgreSQL $PG_VERSION on $ALLOW_ADDRESS:5432 too, TLS and scram-sha-256, from $ALLOW_NETWORK"
    make_dir 0755 "$ROOT$PG_ETC/conf.d"
    put 0644 "$ROOT$PG_ETC/conf.d/topolab.conf" <<EOF
# compose/install --allow-lab-hosts: lab hosts reach the site's database over TLS (the site's certificate), with
# passwords checked by scram-sha-256, as the rules of /etc/topolab/pg_hba.conf say. compose/uninstall removes this.
listen_addresses = 'localhost,$ALLOW_ADDRESS'
ssl = on
ssl_cert_file = '/etc/topolab/tls/server.crt'
ssl_key_file = '/etc/topolab/tls/postgres.key'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = scram-sha-256
hba_file = '/etc/topolab/pg_hba.conf'
EOF
    # Debian's own rules first (local peer and loopback logins as they were), then lab hosts: the members of
    # topolab_lab_hosts (each host's role, compose/lab-host invite) from the lab network over TLS only; anything
    # else from there is refused, plaintext included. Debian's file itself is not touched.
    {
        echo "# compose/install --allow-lab-hosts: Debian's rules ($PG_ETC/pg_hba.conf, as they were), then lab hosts'."
        grep -v '^[[:space:]]*#' "$PG_ETC/pg_hba.conf" | grep -v '^[[:space:]]*$'
        echo "hostssl topolab +topolab_lab_hosts $ALLOW_NETWORK scram-sha-256"
        echo "host    all     all                $ALLOW_NETWORK reject"
    } | put 0640 "$ETC/pg_hba.conf"
    if [ -z "$ROOT" ]; then chgrp postgres "$ETC/pg_hba.conf"; fi
fi
