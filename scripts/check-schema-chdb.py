#!/usr/bin/env python3
"""Applies every migration in schemas/clickhouse/ to a current ClickHouse engine (chDB) and
checks the views answer, so the DDL stays within what 18.16 and current releases share.

Usage: python check-schema-chdb.py [SCHEMA_DIR]   (needs `pip install chdb`)
"""
import pathlib
import re
import sys
import tempfile

from chdb import session

schema_dir = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent / "schemas" / "clickhouse")
files = sorted(schema_dir.glob("[0-9][0-9][0-9]_*.sql"))


def expand(sql):
    """The grafana-clickhouse-datasource macro expansion over a wide range, variables set."""
    for name, lo, hi in [("$__dateFilter(", "toDate('2000-01-01')", "toDate('2100-01-01')"),
                         ("$__timeFilter(", "toDateTime(946684800)", "toDateTime(4102444800)")]:
        while name in sql:
            start = sql.index(name)
            i, depth = start + len(name), 1
            while depth:
                depth += {"(": 1, ")": -1}.get(sql[i], 0)
                i += 1
            column = sql[start + len(name):i - 1]
            sql = sql[:start] + f"{column} >= {lo} AND {column} <= {hi}" + sql[i:]
    for var, value in [("model", "linear"), ("minor_per_unit", "100"), ("conversion_type:singlequote", "'__all__'"),
                       ("platform:singlequote", "'linkedin', 'direct'"), ("campaign:singlequote", "'__all__'")]:
        sql = sql.replace("${" + var + "}", value).replace("$" + var, value)
    assert "$" not in sql, sql
    return sql


def dashboard_queries(directory):
    import json
    out = []
    for f in sorted(directory.glob("*.json")):
        d = json.loads(f.read_text())
        for p in d.get("panels", []):
            for t in p.get("targets", []):
                if "rawSql" in t:
                    out.append((f"{f.name}: {p['title']}", expand(t["rawSql"])))
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") == "query" and v.get("datasource", {}).get("type") == "grafana-clickhouse-datasource":
                out.append((f"{f.name}: variable {v['name']}", expand(v["query"])))
    return out
assert files, f"no migrations in {schema_dir}"
with tempfile.TemporaryDirectory() as tmp:
    s = session.Session(tmp)
    print("chDB engine", s.query("SELECT version()", "CSV").bytes().decode().strip())
    s.query("CREATE DATABASE IF NOT EXISTS attrib_check")
    s.query("USE attrib_check")
    for f in files:
        sql = re.sub(r"--[^\n]*", "", f.read_text())
        for stmt in [x.strip() for x in sql.split(";") if x.strip()]:
            s.query(stmt)
        # Applying twice must be harmless (as the migrator does: a column another run already
        # added counts as added).
        for stmt in [x.strip() for x in sql.split(";") if x.strip()]:
            try:
                s.query(stmt)
            except Exception as e:  # noqa: BLE001 - chDB raises a plain RuntimeError
                if not (stmt.upper().startswith("ALTER TABLE") and "ADD COLUMN" in stmt.upper() and "already exists" in str(e)):
                    raise
        print("applied", f.name)
    views = ["credits_current", "conversions_current", "touchpoints_current", "spend_current", "pipeline_current",
             "kpi_daily", "kpi_campaigns", "kpi_posts", "kpi_time_to_conversion", "kpi_reconciliation",
             "kpi_paths", "kpi_time_to_conversion_buckets"]
    for view in views:
        out = s.query(f"SELECT count() FROM {view}", "CSV").bytes().decode().strip()
        assert out == "0", (view, out)
    # A replayed row replaces itself: two writes of one key count once after FINAL.
    row = "('order:1', 1, 'order', 'linear', 'v', 'p', 't1', 'social', '2026-01-01T00:00:00Z', now(), 'x', 'x', '', '', '', 'brand', 1.0, 500, 'USD', '2026-01-02T00:00:00Z', now(), 0, {rev}, 500, 'USD')"
    s.query("INSERT INTO attribution_credits VALUES " + row.format(rev=1))
    s.query("INSERT INTO attribution_credits VALUES " + row.format(rev=2))
    total = s.query("SELECT sum(credit_minor) FROM credits_current", "CSV").bytes().decode().strip()
    assert total == "500", total
    # The KPI views read the deduplicated ledger too.
    kpi = s.query("SELECT sum(attributed_revenue_minor), sum(attributed_conversions) FROM kpi_daily", "CSV").bytes().decode().strip()
    assert kpi == "500,1", kpi
    roas = s.query("SELECT count(), countIf(isNull(roas)) FROM kpi_campaigns", "CSV").bytes().decode().strip()
    assert roas == "1,1", roas
    # Every Grafana panel and variable query runs on current ClickHouse too.
    queries = dashboard_queries(schema_dir.parent.parent / "deploy" / "grafana" / "dashboards")
    assert len(queries) >= 10, len(queries)
    for what, sql in queries:
        try:
            s.query(sql, "CSV")
        except Exception as e:  # noqa: BLE001
            raise SystemExit(f"dashboard query failed on chDB: {what}: {e}\n{sql}")
    print(f"{len(queries)} dashboard queries OK on chDB")
    print("schema OK on chDB")
