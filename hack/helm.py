#!/usr/bin/env python3
"""Lints and renders the Helm chart with Helm's own Go SDK (PyPI helm-python-sdk), offline.

    hack/helm.py lint   CHART [VALUES.yaml]   -> JSON lint report on stdout; exit 1 on errors
    hack/helm.py render CHART [VALUES.yaml]   -> the rendered manifests (one YAML stream) on stdout

The tests call it through HYPERFLEET_HELM_PYTHON (a Python with helm-python-sdk, prepared by
hack/helm-env.sh, which hack/test.sh runs first).
"""
import json
import sys

import helm_python


def values(path):
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        return helm_python.values_from_yaml(f.read())


def main(argv):
    if len(argv) < 3 or argv[1] not in ("lint", "render"):
        print(__doc__, file=sys.stderr)
        return 2
    chart, vals = argv[2], values(argv[3] if len(argv) > 3 else None)
    if argv[1] == "lint":
        report = helm_python.lint(chart, vals, strict=True, kube_version="v1.33.0")
        print(json.dumps(report, indent=2))
        bad = report.get("errors") or [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
        return 1 if bad else 0
    loaded = helm_python.Chart.load(chart)
    loaded.validate_schema(vals)
    rendered = loaded.render(vals, name="hyperfleet", namespace="hyperfleet", is_install=True)
    for path in sorted(rendered):
        body = rendered[path].strip()
        if body and not path.endswith("NOTES.txt"):
            print(f"---\n# Source: {path}\n{body}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
