#!/usr/bin/env python3
"""Checks the Prometheus queries of the Grafana dashboards: writes them as recording rules for
`promtool check rules` (PromQL syntax), and checks every attrib_* metric they name is one the
service registers (crates/attrib-service/src/metrics.rs) or the alert rules use.

Usage: python check-dashboard-promql.py OUT_RULES_FILE
"""
import json
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
registered = set(re.findall(r'"(attrib_[a-z0-9_]+)"', (root / "crates/attrib-service/src/metrics.rs").read_text()))
rules, unknown = [], []
for f in sorted((root / "deploy/grafana/dashboards").glob("*.json")):
    d = json.loads(f.read_text())
    for p in d.get("panels", []):
        for t in p.get("targets", []):
            if "expr" not in t:
                continue
            # Grafana's own variables, as it would expand them.
            expr = t["expr"].replace("$__rate_interval", "5m").replace('"$job"', '".*"')
            assert "$" not in expr, (f.name, p["title"], expr)
            rules.append({"record": f"dashboard:{f.stem}:{p['id']}:{t['refId']}", "expr": expr})
            for name in re.findall(r"\battrib_[a-z0-9_]+", expr):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                if name not in registered and base not in registered:
                    unknown.append(f"{f.name}: {p['title']}: {name}")
if unknown:
    sys.exit("dashboard queries name metrics the service does not export:\n  " + "\n  ".join(unknown))
assert rules, "no Prometheus dashboard queries found"
with open(sys.argv[1], "w") as out:
    json.dump({"groups": [{"name": "dashboards", "rules": rules}]}, out, indent=1)
print(f"{len(rules)} dashboard PromQL queries name exported metrics")
