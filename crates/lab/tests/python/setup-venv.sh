#!/usr/bin/env bash
# Creates (or keeps, when already made from the same requirements) a virtual environment with
# the official Python Kubernetes client from PyPI, for the lab's Python client tests.
# Usage: setup-venv.sh DIR   (then DIR/bin/python is the interpreter to use)
set -euo pipefail
dir=${1:?usage: setup-venv.sh DIR}
requirements="$(cd "$(dirname "$0")" && pwd)/requirements.txt"
stamp="$dir/.requirements"
if [ -x "$dir/bin/python" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi
rm -rf "$dir"
python3 -m venv "$dir"
"$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
