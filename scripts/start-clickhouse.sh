#!/usr/bin/env bash
# Installs (Debian package) and starts a private ClickHouse server for tests on 127.0.0.1.
# Ports: HTTP 18123, native 19000. Data under ${CH_DIR:-/tmp/attrib-ch}. Idempotent.
set -euo pipefail
CH_DIR="${CH_DIR:-/tmp/attrib-ch}"
HTTP_PORT="${CH_HTTP_PORT:-18123}"
if ! command -v clickhouse-server >/dev/null 2>&1; then
  echo "installing clickhouse-server (Debian package)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
fi
if curl -fs "http://127.0.0.1:${HTTP_PORT}/ping" >/dev/null 2>&1; then
  echo "clickhouse already running on ${HTTP_PORT}"
  exit 0
fi
mkdir -p "$CH_DIR"/{data,tmp,uf,fs}
clickhouse-server --config-file=/etc/clickhouse-server/config.xml --daemon --pid-file="$CH_DIR/pid" -- \
  --http_port="$HTTP_PORT" --tcp_port="${CH_TCP_PORT:-19000}" --interserver_http_port="${CH_INTERSERVER_PORT:-19009}" \
  --path="$CH_DIR/data/" --tmp_path="$CH_DIR/tmp/" --user_files_path="$CH_DIR/uf/" --format_schema_path="$CH_DIR/fs/" \
  --logger.log="$CH_DIR/log" --logger.errorlog="$CH_DIR/err"
for _ in $(seq 1 100); do
  if curl -fs "http://127.0.0.1:${HTTP_PORT}/ping" >/dev/null 2>&1; then
    echo "clickhouse $(curl -fs "http://127.0.0.1:${HTTP_PORT}/?query=SELECT%20version()") ready on ${HTTP_PORT}"
    exit 0
  fi
  sleep 0.2
done
echo "clickhouse did not start; see $CH_DIR/err" >&2
tail -20 "$CH_DIR/err" >&2 || true
exit 1
