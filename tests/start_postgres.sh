#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the test suite and print its DSN.
#
#   . tests/start_postgres.sh      # sourced: exports RXFLOW_TEST_POSTGRES_DSN in this shell
#   bash tests/start_postgres.sh   # run: prints the DSN (export it yourself)
#
# The cluster lives in a new temporary directory (RXFLOW_TEST_POSTGRES_DIR), listens on
# 127.0.0.1 on a free port, trusts local connections and is tuned for tests (fsync off), so
# never keep data you care about in it. Stop it and remove its files with
#   rxflow_stop_postgres           # when sourced
#   pg_ctl -D "$RXFLOW_TEST_POSTGRES_DIR" stop -m fast && rm -rf "$RXFLOW_TEST_POSTGRES_DIR"
# It needs the PostgreSQL server programs (initdb, pg_ctl): on Debian or Ubuntu
# `apt-get install postgresql`. As root, the server runs as the `postgres` system user
# (PostgreSQL refuses to run as root).

_rxflow_pg_bindir() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    # Debian installs the server programs outside PATH, one directory per major version.
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        echo "$dir"
        return 0
    fi
    return 1
}

_rxflow_pg_as_server_user() {
    # Runs a command as the user owning the cluster: this one, or `postgres` when root.
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

_rxflow_pg_start() {
    local bindir dir port socket
    if ! bindir=$(_rxflow_pg_bindir); then
        echo "start_postgres.sh: initdb was not found; install PostgreSQL" \
            "(Debian/Ubuntu: apt-get install postgresql)" >&2
        return 1
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres || return 1
    fi
    dir=$(mktemp -d "${TMPDIR:-/tmp}/rxflow-pg.XXXXXX") || return 1
    chmod 755 "$dir"
    mkdir "$dir/data" "$dir/socket"
    [ "$(id -u)" = 0 ] && chown -R postgres "$dir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || return 1
    socket="$dir/socket"
    _rxflow_pg_as_server_user "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        return 1
    }
    _rxflow_pg_as_server_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $socket -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || {
        cat "$dir/server.log" >&2
        return 1
    }
    local psql="$bindir/psql"
    [ -x "$psql" ] || psql=$(command -v psql) || psql="$(dirname "$(readlink -f "$bindir/initdb")")/psql"
    "$psql" -q -X -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -c "CREATE DATABASE rxflow_test" >/dev/null || return 1
    export RXFLOW_TEST_POSTGRES_DIR="$dir"
    export RXFLOW_TEST_POSTGRES_BIN="$bindir"
    export RXFLOW_TEST_POSTGRES_DSN="postgresql://postgres@127.0.0.1:$port/rxflow_test"
    echo "$RXFLOW_TEST_POSTGRES_DSN"
}

rxflow_stop_postgres() {
    # Stops the server started above and removes its directory.
    if [ -n "${RXFLOW_TEST_POSTGRES_DIR:-}" ] && [ -d "$RXFLOW_TEST_POSTGRES_DIR" ]; then
        _rxflow_pg_as_server_user "$RXFLOW_TEST_POSTGRES_BIN/pg_ctl" \
            -D "$RXFLOW_TEST_POSTGRES_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$RXFLOW_TEST_POSTGRES_DIR"
    fi
    unset RXFLOW_TEST_POSTGRES_DIR RXFLOW_TEST_POSTGRES_BIN RXFLOW_TEST_POSTGRES_DSN
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    _rxflow_pg_start || exit 1
    echo "stop it with: pg_ctl -D $RXFLOW_TEST_POSTGRES_DIR/data stop -m fast" >&2
else
    _rxflow_pg_start || return 1
fi
