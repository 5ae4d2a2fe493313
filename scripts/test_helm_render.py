#!/usr/bin/env python3
"""Tests of helm_render.py: Go text/template semantics (as documented for text/template and
Sprig), then the attrib chart rendered with its defaults and with the options users set.

Run: python scripts/test_helm_render.py
"""
import pathlib
import sys
import tempfile
import tomllib
import unittest

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from helm_render import Renderer, TemplateError, parse, render_chart  # noqa: E402

CHART = pathlib.Path(__file__).parent.parent / "deploy" / "helm" / "attrib"


def render(text, values=None, dot=None):
    defines = {}
    nodes = parse(text, defines)
    root = {"Values": values or {}, "Release": {"Name": "rel"}, "Chart": {"Name": "attrib"}}
    return Renderer(root, defines).run(nodes, dot if dot is not None else root, {"$": root})


class GoTemplateSemantics(unittest.TestCase):
    def test_trim_markers_eat_whitespace_including_newlines(self):
        self.assertEqual(render("a  \n  {{- 1 }}  \n b"), "a1  \n b")
        self.assertEqual(render("a {{ 1 -}} \n\n b"), "a 1b")
        self.assertEqual(render("x{{- /* a comment */ -}}\n y"), "xy")

    def test_values_print_like_go(self):
        self.assertEqual(render("{{ .Values.b }} {{ .Values.n }} {{ .Values.s }}", {"b": False, "n": 3, "s": "x"}), "false 3 x")
        with self.assertRaises(TemplateError):
            render("{{ .Values.m }}", {"m": {"a": 1}})

    def test_if_else_if_else_and_truthiness(self):
        t = "{{ if .Values.a }}A{{ else if .Values.b }}B{{ else }}C{{ end }}"
        self.assertEqual(render(t, {"a": 1, "b": 1}), "A")
        self.assertEqual(render(t, {"a": 0, "b": "x"}), "B")
        for empty in ("", [], {}, 0, None, False):
            self.assertEqual(render(t, {"a": empty, "b": empty}), "C", empty)

    def test_range_over_lists_and_maps_in_key_order(self):
        self.assertEqual(render("{{ range $i, $v := .Values.l }}{{ if $i }},{{ end }}{{ $v }}{{ end }}", {"l": ["a", "b"]}), "a,b")
        self.assertEqual(render("{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}", {"m": {"z": 1, "a": 2}}), "a=2;z=1;")
        self.assertEqual(render("{{ range .Values.l }}[{{ . }}]{{ else }}none{{ end }}", {"l": []}), "none")

    def test_with_rebinds_dot_and_dollar_stays_the_root(self):
        self.assertEqual(render("{{ with .Values.x }}{{ .y }} {{ $.Release.Name }}{{ end }}", {"x": {"y": 5}}), "5 rel")
        self.assertEqual(render("{{ with .Values.x }}no{{ else }}yes{{ end }}", {"x": {}}), "yes")

    def test_pipelines_pass_the_value_as_the_last_argument(self):
        self.assertEqual(render('{{ .Values.t | default "latest" | quote }}', {"t": ""}), '"latest"')
        self.assertEqual(render('{{ .Values.t | default "latest" }}', {"t": "1.2"}), "1.2")
        self.assertEqual(render('{{ "abcdef-" | trunc 4 }}|{{ "abc-" | trimSuffix "-" }}'), "abcd|abc")
        self.assertEqual(render('{{ printf "%s-%s" "a" "b" | replace "-" "_" }}'), "a_b")
        self.assertEqual(render('{{ contains "ib" "attrib" }} {{ gt (int "3") 1 }}'), "true true")

    def test_variables_define_include_and_indentation(self):
        t = '{{- define "x" -}}k: {{ .v }}\nl: 2{{- end -}}a:{{ include "x" .Values | nindent 2 }}'
        self.assertEqual(render(t, {"v": 1}), "a:\n  k: 1\n  l: 2")
        self.assertEqual(render('{{ $n := "a" }}{{ $n = "b" }}{{ $n }}'), "b")
        self.assertEqual(render("{{ toYaml .Values | nindent 2 }}", {"b": [1], "a": {"c": "x"}}), "\n  a:\n    c: x\n  b:\n  - 1")

    def test_errors_are_errors(self):
        with self.assertRaises(TemplateError):
            render('{{ fail "stop" }}')
        with self.assertRaises(TemplateError):
            render("{{ nosuchfunction 1 }}")
        with self.assertRaises(TemplateError):
            render("{{ if .Values.a }}unclosed")
        with self.assertRaises(TemplateError):
            render("{{ $undefined }}")
        with self.assertRaises(TemplateError):
            render("{{ .Values.a.b }}", {"a": None})


def docs(rendered):
    return {path: yaml.safe_load(text) for path, text in rendered.items()}


def with_values(values):
    f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    yaml.safe_dump(values, f)
    f.close()
    return render_chart(CHART, values_files=[f.name])


class TheChart(unittest.TestCase):
    def test_defaults_render_every_object_once(self):
        kinds = sorted(d["kind"] for d in docs(render_chart(CHART)).values())
        self.assertEqual(kinds, ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceMonitor"])

    def test_the_config_map_holds_the_values_as_toml(self):
        cm = docs(with_values({"kafka": {"brokers": "b:9093", "properties": {"socket.timeout.ms": 30000}},
                               "attribution": {"reportingCurrency": "EUR", "models": ["linear", "markov"]}}))
        toml = tomllib.loads(cm["attrib/templates/configmap.yaml"]["data"]["attrib.toml"])
        self.assertEqual(toml["kafka"]["brokers"], "b:9093")
        self.assertEqual(toml["kafka"]["properties"], {"socket.timeout.ms": "30000"})
        self.assertEqual(toml["reporting"]["currency"], "EUR")
        self.assertEqual(toml["models"]["enabled"], ["linear", "markov"])
        self.assertEqual(toml["service"]["http_listen"], "0.0.0.0:9464")

    def test_secrets_are_referenced_never_inlined(self):
        out = with_values({"kafka": {"sasl": {"enabled": True, "existingSecret": "kafka-creds"}},
                           "clickhouse": {"existingSecret": "ch-creds"}})
        d = docs(out)
        env = {e["name"]: e for e in d["attrib/templates/deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]["env"]}
        self.assertEqual(env["ATTRIB_KAFKA__SASL_PASSWORD"]["valueFrom"]["secretKeyRef"], {"name": "kafka-creds", "key": "password"})
        self.assertEqual(env["ATTRIB_CLICKHOUSE__PASSWORD"]["valueFrom"]["secretKeyRef"]["name"], "ch-creds")
        toml = tomllib.loads(d["attrib/templates/configmap.yaml"]["data"]["attrib.toml"])
        self.assertEqual(toml["kafka"]["properties"]["security.protocol"], "SASL_SSL")
        self.assertNotIn("sasl.password", toml["kafka"]["properties"])

    def test_sasl_without_a_secret_and_more_than_one_replica_are_refused(self):
        with self.assertRaisesRegex(TemplateError, "existingSecret"):
            with_values({"kafka": {"sasl": {"enabled": True}}})
        with self.assertRaisesRegex(TemplateError, "replicaCount must be 1"):
            with_values({"replicaCount": 2})

    def test_a_config_change_rolls_the_pod(self):
        checksum = lambda out: docs(out)["attrib/templates/deployment.yaml"]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]  # noqa: E731
        self.assertNotEqual(checksum(render_chart(CHART)), checksum(with_values({"kafka": {"group": "other"}})))

    def test_optional_objects_can_be_turned_off(self):
        kinds = {d["kind"] for d in docs(with_values({"serviceMonitor": {"enabled": False},
                                                      "podDisruptionBudget": {"enabled": False}})).values()}
        self.assertEqual(kinds, {"ConfigMap", "Deployment", "Service"})


if __name__ == "__main__":
    unittest.main()
