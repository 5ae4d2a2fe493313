#!/usr/bin/env python3
"""Renders a Helm chart like `helm template` where no helm binary can be had.

Implements the Go text/template language (actions, trim markers, if/else if/else, range over
lists and maps (sorted keys), with, define/include/template, variables, comments, pipelines)
and the Sprig/Helm functions the attrib chart uses. Anything else is an error, never a silent
guess. Tested by scripts/test_helm_render.py against Go's documented semantics.

Usage: helm_render.py CHART_DIR [--release NAME] [--namespace NS] [-f VALUES.yaml]... [--set a.b=v]...
"""
import argparse
import copy
import hashlib
import json
import pathlib
import re
import sys

import yaml


class TemplateError(Exception):
    pass


# ---------------------------------------------------------------- lexing and parsing

ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


def split(text):
    """Text and action pieces, with Go's trim markers applied to the neighbouring text."""
    pieces, pos = [], 0
    for m in ACTION.finditer(text):
        before = text[pos:m.start()]
        if m.group(1):
            before = before.rstrip(" \t\r\n")
        pieces.append(("text", before))
        pieces.append(("action", m.group(2).strip(), bool(m.group(3))))
        pos = m.end()
    pieces.append(("text", text[pos:]))
    # A right trim marker eats the whitespace at the start of the following text.
    out = []
    trim_next = False
    for p in pieces:
        if p[0] == "text":
            t = p[1].lstrip(" \t\r\n") if trim_next else p[1]
            trim_next = False
            if t:
                out.append(("text", t))
        else:
            out.append(("action", p[1]))
            trim_next = p[2]
    return out


TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<decl>:=|=)
    | (?P<punct>[|(),])
    | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    | (?P<field>\.(?:[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.X,
)


def tokens(src):
    out, pos = [], 0
    src = src.strip()
    while pos < len(src):
        m = TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"cannot parse {src[pos:]!r} in {{{{ {src} }}}}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(src) and src[pos].isspace():
            pos += 1
    return out


def parse_pipeline(toks):
    """A pipeline: commands separated by |; a command is a list of operands."""
    cmds, cur, i = [], [], 0
    while i < len(toks):
        kind, val = toks[i]
        if kind == "punct" and val == "|":
            cmds.append(cur)
            cur = []
        elif kind == "punct" and val == "(":
            depth, j = 1, i + 1
            while depth:
                if j >= len(toks):
                    raise TemplateError("unbalanced parentheses")
                if toks[j] == ("punct", "("):
                    depth += 1
                elif toks[j] == ("punct", ")"):
                    depth -= 1
                j += 1
            cur.append(("pipe", parse_pipeline(toks[i + 1:j - 1])))
            i = j
            continue
        elif kind == "punct":
            raise TemplateError(f"unexpected {val!r}")
        else:
            cur.append((kind, val))
        i += 1
    cmds.append(cur)
    return cmds


def parse_action(src):
    """(keyword, details) for one action."""
    if src.startswith("/*"):
        return ("comment", None)
    toks = tokens(src)
    head = toks[0] if toks else ("", "")
    if head == ("ident", "end"):
        return ("end", None)
    if head == ("ident", "else"):
        rest = toks[1:]
        if rest and rest[0] == ("ident", "if"):
            return ("elseif", parse_pipeline(rest[1:]))
        return ("else", None)
    if head[0] == "ident" and head[1] in ("if", "with"):
        return (head[1], parse_pipeline(toks[1:]))
    if head == ("ident", "range"):
        rest, names = toks[1:], []
        decl = [k for k, (kind, _) in enumerate(rest) if kind == "decl"]
        if decl:
            names = [v for kind, v in rest[:decl[0]] if kind == "var"]
            rest = rest[decl[0] + 1:]
        return ("range", (names, parse_pipeline(rest)))
    if head == ("ident", "define"):
        return ("define", json.loads(toks[1][1]))
    if head == ("ident", "template"):
        return ("template", (json.loads(toks[1][1]), parse_pipeline(toks[2:]) if len(toks) > 2 else None))
    if head[0] == "var" and len(toks) > 1 and toks[1][0] == "decl":
        return ("assign", (head[1], toks[1][1], parse_pipeline(toks[2:])))
    return ("output", parse_pipeline(toks))


def parse(text, defines):
    """A list of nodes; `define` blocks go to `defines`."""
    pieces = split(text)
    pos = 0

    def block(stop):
        nonlocal pos
        nodes = []
        while pos < len(pieces):
            piece = pieces[pos]
            pos += 1
            if piece[0] == "text":
                nodes.append(("text", piece[1]))
                continue
            kind, detail = parse_action(piece[1])
            if kind in stop:
                return nodes, kind, detail
            if kind == "comment":
                continue
            if kind in ("if", "with", "range"):
                nodes.append(conditional(kind, detail))
            elif kind == "define":
                body, end, _ = block({"end"})
                defines[detail] = body
            elif kind in ("end", "else", "elseif"):
                raise TemplateError(f"unexpected {{{{ {kind} }}}}")
            else:
                nodes.append((kind, detail))
        if stop:
            raise TemplateError(f"missing {{{{ end }}}} (expected one of {sorted(stop)})")
        return nodes, None, None

    def conditional(kind, detail):
        body, end, more = block({"end", "else", "elseif"})
        other = []
        if end == "else":
            other, _, _ = block({"end"})
        elif end == "elseif":
            if kind != "if":
                raise TemplateError("else if after " + kind)
            other = [conditional("if", more)]
        return (kind, detail, body, other)

    nodes, _, _ = block(set())
    return nodes


# ---------------------------------------------------------------- evaluation

def truthy(v):
    """Go's truth: false, 0, nil and empty strings, lists and maps are false."""
    if v is None or isinstance(v, bool):
        return bool(v)
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, (str, list, dict, tuple)):
        return len(v) > 0
    return True


def go_str(v):
    """Go's fmt %v for the values a chart prints."""
    if v is None:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dict, list)):
        raise TemplateError(f"printing a {type(v).__name__} directly; pipe it through toYaml")
    return str(v)


def go_quote(s):
    return json.dumps(s, ensure_ascii=False)


def to_yaml(v):
    if v is None:
        return "null"
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True, allow_unicode=True).rstrip("\n")


def indent(n, s):
    pad = " " * int(n)
    return "\n".join(pad + line for line in s.split("\n"))


def go_printf(fmt, *args):
    out, i, k = [], 0, 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            verb = fmt[i + 1]
            if verb == "%":
                out.append("%")
            elif verb in "sdv":
                out.append(go_str(args[k]))
                k += 1
            elif verb == "q":
                out.append(go_quote(go_str(args[k])))
                k += 1
            else:
                raise TemplateError(f"printf verb %{verb} not supported")
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


def go_print(*args):
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_str(a))
    return "".join(out)


def compare(a, b):
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        raise TemplateError(f"incompatible types for comparison: {a!r} and {b!r}")
    return a, b


class Renderer:
    def __init__(self, root, defines):
        self.root = root
        self.defines = defines
        self.functions = {
            "default": lambda d, v=None: v if truthy(v) else d,
            "quote": lambda *a: " ".join(go_quote(go_str(x)) for x in a),
            "squote": lambda *a: " ".join("'" + go_str(x) + "'" for x in a),
            "toString": go_str,
            "toYaml": to_yaml,
            "nindent": lambda n, s: "\n" + indent(n, s),
            "indent": indent,
            "trunc": lambda n, s: s[:n] if n >= 0 else s[n:],
            "trimSuffix": lambda suf, s: s[: -len(suf)] if suf and s.endswith(suf) else s,
            "trimPrefix": lambda pre, s: s[len(pre):] if pre and s.startswith(pre) else s,
            "contains": lambda sub, s: sub in s,
            "replace": lambda old, new, s: s.replace(old, new),
            "printf": go_printf,
            "print": go_print,
            "sha256sum": lambda s: hashlib.sha256(s.encode()).hexdigest(),
            "int": lambda v: int(float(v)) if not isinstance(v, bool) else int(v),
            "gt": lambda a, b: (lambda x, y: x > y)(*compare(a, b)),
            "lt": lambda a, b: (lambda x, y: x < y)(*compare(a, b)),
            "eq": lambda a, *bs: any(a == b for b in bs),
            "ne": lambda a, b: a != b,
            "not": lambda v: not truthy(v),
            "and": self.and_,
            "or": self.or_,
            "fail": self.fail,
            "required": self.required,
            "include": self.include,
        }

    @staticmethod
    def and_(*args):
        for a in args:
            if not truthy(a):
                return a
        return args[-1]

    @staticmethod
    def or_(*args):
        for a in args:
            if truthy(a):
                return a
        return args[-1]

    @staticmethod
    def fail(msg):
        raise TemplateError(f"execution error: {msg}")

    @staticmethod
    def required(msg, v):
        if not truthy(v):
            raise TemplateError(f"execution error: {msg}")
        return v

    def include(self, name, data):
        if name not in self.defines:
            raise TemplateError(f"no template {name!r}")
        return self.run(self.defines[name], data, {"$": data})

    def field(self, base, path, what):
        v = base
        for part in [p for p in path.split(".") if p]:
            if isinstance(v, dict):
                v = v.get(part)
            elif v is None:
                raise TemplateError(f"nil pointer evaluating {what}")
            else:
                raise TemplateError(f"can't evaluate field {part} in {what}")
        return v

    def operand(self, op, dot, scope):
        kind, val = op
        if kind == "str":
            return json.loads(val) if val.startswith('"') else val[1:-1]
        if kind == "num":
            return float(val) if "." in val else int(val)
        if kind == "field":
            return self.field(dot, val, val)
        if kind == "var":
            name, _, path = val.partition(".")
            if name not in scope:
                raise TemplateError(f"undefined variable {name}")
            return self.field(scope[name], path, val)
        if kind == "pipe":
            return self.pipeline(val, dot, scope)
        if kind == "ident":
            if val in ("true", "false"):
                return val == "true"
            if val == "nil":
                return None
            return self.call(val, [], dot, scope)
        raise TemplateError(f"unexpected operand {val!r}")

    def call(self, name, args, dot, scope, piped=None):
        if name not in self.functions:
            raise TemplateError(f'function "{name}" not defined')
        values = [self.operand(a, dot, scope) for a in args]
        if piped is not None:
            values.append(piped[0])
        return self.functions[name](*values)

    def pipeline(self, cmds, dot, scope):
        result = None
        for i, cmd in enumerate(cmds):
            piped = (result,) if i else None
            head = cmd[0]
            if head[0] == "ident" and head[1] not in ("true", "false", "nil"):
                result = self.call(head[1], cmd[1:], dot, scope, piped)
            else:
                if len(cmd) > 1 or piped is not None:
                    raise TemplateError(f"can't give argument to non-function {head[1]}")
                result = self.operand(head, dot, scope)
        return result

    def run(self, nodes, dot, scope):
        out = []
        scope = dict(scope)
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "output":
                out.append(go_str(self.pipeline(node[1], dot, scope)))
            elif kind == "assign":
                name, op, pipe = node[1]
                if op == "=" and name not in scope:
                    raise TemplateError(f"undefined variable {name}")
                scope[name] = self.pipeline(pipe, dot, scope)
            elif kind == "template":
                name, pipe = node[1]
                data = self.pipeline(pipe, dot, scope) if pipe else None
                out.append(self.include(name, data))
            elif kind == "if":
                _, pipe, body, other = node
                branch = body if truthy(self.pipeline(pipe, dot, scope)) else other
                out.append(self.run(branch, dot, scope))
            elif kind == "with":
                _, pipe, body, other = node
                v = self.pipeline(pipe, dot, scope)
                out.append(self.run(body, v, scope) if truthy(v) else self.run(other, dot, scope))
            elif kind == "range":
                _, (names, pipe), body, other = node
                v = self.pipeline(pipe, dot, scope)
                items = sorted(v.items()) if isinstance(v, dict) else list(enumerate(v or []))
                if not items:
                    out.append(self.run(other, dot, scope))
                for k, item in items:
                    inner = dict(scope)
                    if len(names) == 1:
                        inner[names[0]] = item
                    elif len(names) == 2:
                        inner[names[0]], inner[names[1]] = k, item
                    out.append(self.run(body, item, inner))
            else:
                raise TemplateError(f"unknown node {kind}")
        return "".join(out)


# ---------------------------------------------------------------- the chart

def deep_merge(base, extra):
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        else:
            base[k] = v
    return base


def set_value(values, assignment):
    key, _, raw = assignment.partition("=")
    value = yaml.safe_load(raw) if raw else ""
    node = values
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def render_chart(chart_dir, release="attrib", namespace="default", values_files=(), sets=()):
    """{template path: rendered text} for every manifest template (partials and NOTES left out)."""
    chart_dir = pathlib.Path(chart_dir)
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    values = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    for f in values_files:
        deep_merge(values, yaml.safe_load(pathlib.Path(f).read_text()) or {})
    for s in sets:
        set_value(values, s)
    name = chart["name"]
    files = sorted((chart_dir / "templates").glob("*"))
    defines, parsed = {}, {}
    for f in files:
        nodes = parse(f.read_text(), defines)
        if not f.name.startswith("_") and f.suffix in (".yaml", ".yml", ".tpl") and f.name != "NOTES.txt":
            parsed[f"{name}/templates/{f.name}"] = nodes
    for path, nodes in parsed.items():
        defines[path] = nodes
    root = {
        "Values": values,
        "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart.get("appVersion", "")},
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": True},
        "Capabilities": {},
    }
    renderer = Renderer(root, defines)
    out = {}
    for path, nodes in parsed.items():
        root_with_template = dict(root, Template={"Name": path, "BasePath": f"{name}/templates"})
        text = renderer.run(nodes, root_with_template, {"$": root_with_template})
        if text.strip():
            out[path] = text
    return out


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("chart")
    p.add_argument("--release", default="attrib")
    p.add_argument("--namespace", default="default")
    p.add_argument("-f", "--values", action="append", default=[])
    p.add_argument("--set", action="append", default=[])
    a = p.parse_args(argv)
    try:
        rendered = render_chart(a.chart, a.release, a.namespace, a.values, a.set)
    except TemplateError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    for path, text in rendered.items():
        sys.stdout.write(f"---\n# Source: {path}\n{text.strip(chr(10))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
