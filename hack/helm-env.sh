#!/usr/bin/env bash
# Prints the path of a Python that has Helm's Go SDK (PyPI helm-python-sdk), creating a venv
# for it on first use. Used by hack/test.sh and hack/bundle.sh; no helm binary is needed.
set -euo pipefail
venv="${HYPERFLEET_HELM_VENV:-/tmp/hyperfleet-helm-venv}"
version=0.2.2
if ! "$venv/bin/python" -c "import helm_python" >/dev/null 2>&1; then
  echo "helm-env: installing helm-python-sdk $version into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "helm-python-sdk==$version" >&2
fi
echo "$venv/bin/python"
