#!/usr/bin/env python3
"""Writes crates/lab/src/api/protobuf/schema.txt, the table the lab's protobuf reader uses.

Kubernetes' protobuf encoding is generated from the Go types, and turning a message back
into the JSON upstream would have stored needs what the .proto files alone do not say:
a field's JSON name can differ from its proto name, a Go field embedded with
`json:",inline"` (Probe's ProbeHandler, Volume's VolumeSource) is a nested message on the
wire but merged into its parent in JSON, and Go's encoder writes every non-pointer field,
so a zero on the wire means "unset" unless the Go field is a pointer. So each field's row
joins the .proto declaration (number, type, repeated/map) with the Go struct field that
carries the same `protobuf:"...,N,..."` tag (JSON name, inline, pointer, omitempty).

Usage: protobuf_schema.py API_DIR APIMACHINERY_DIR > crates/lab/src/api/protobuf/schema.txt
where API_DIR is a checkout of k8s.io/api and APIMACHINERY_DIR one of k8s.io/apimachinery,
both at the tag matching the served Kubernetes version (v0.33.x for 1.33).

Output: one block per message: `message <full.name>` (or `list <full.name>` for a Go slice
type such as ExtraValue, whose JSON is the array of its `items`), then one line per field:
`<number> <jsonName or ~ for inline> <type> <flags>`, type being string, int32, int64,
bool, bytes, a message's full name, or map:<keytype>:<valuetype>; flags any of p (Go
pointer), o (omitempty), r (repeated), or - for none.
"""

import os
import re
import sys

API_PACKAGES = [
    "core/v1",
    "apps/v1",
    "batch/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "policy/v1",
    "rbac/v1",
    "coordination/v1",
    "discovery/v1",
    "events/v1",
    "networking/v1",
    "authorization/v1",
    "authentication/v1",
]
MACHINERY_PACKAGES = ["pkg/apis/meta/v1"]

FIELD = re.compile(
    r"^\s*(optional|repeated)?\s*(map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;"
)
GO_FIELD = re.compile(r"^\s+(?:(\w+)\s+)?([^\s`]+)\s+`([^`]*)`")
GO_TAG = re.compile(r'(\w+):"([^"]*)"')


def qualify(name, package):
    if name in ("string", "int32", "int64", "bool", "bytes"):
        return name
    if name.startswith("."):
        return name[1:]
    return f"{package}.{name}"


def read_proto(path):
    """{message: [(number, type, repeated)]} and the package of one generated.proto."""
    package = None
    messages = {}
    current = None
    depth = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            stripped = line.strip()
            if stripped.startswith("//"):
                continue
            if stripped.startswith("package "):
                package = stripped[len("package ") : -1].strip()
                continue
            m = re.match(r"message\s+(\w+)\s*\{", stripped)
            if m:
                depth += 1
                if depth == 1:
                    current = m.group(1)
                    messages[current] = []
                continue
            if stripped.startswith("}"):
                depth -= 1
                continue
            m = FIELD.match(line)
            if m and current and depth == 1:
                label, typ, key, value, _name, number = m.groups()
                if key:
                    typ = f"map:{qualify(key, package)}:{qualify(value, package)}"
                else:
                    typ = qualify(typ, package)
                messages[current].append((int(number), typ, label == "repeated"))
    return package, messages


def read_go(directory):
    """{struct: {number: (jsonName, pointer, omitempty)}} and the names of slice types."""
    structs = {}
    slices = set()
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".go") or name.endswith("_test.go"):
            continue
        current = None
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^type (\w+) struct \{", line)
                if m:
                    current = m.group(1)
                    structs.setdefault(current, {})
                    continue
                m = re.match(r"^type (\w+) \[\](\w+)\s*$", line)
                if m:
                    slices.add(m.group(1))
                    continue
                if line.startswith("}"):
                    current = None
                    continue
                if current is None:
                    continue
                m = GO_FIELD.match(line)
                if not m:
                    continue
                tags = dict(GO_TAG.findall(m.group(3)))
                proto = tags.get("protobuf", "")
                parts = proto.split(",")
                if len(parts) < 2 or not parts[1].isdigit():
                    continue
                json_parts = tags.get("json", "").split(",")
                json_name = json_parts[0]
                if json_name == "-":
                    continue
                inline = "inline" in json_parts[1:] or (m.group(1) is None and json_name == "")
                structs[current][int(parts[1])] = (
                    "~" if inline else json_name,
                    m.group(2).startswith("*"),
                    "omitempty" in json_parts[1:],
                )
    return structs, slices


def main():
    api, machinery = sys.argv[1], sys.argv[2]
    dirs = [os.path.join(api, p) for p in API_PACKAGES]
    dirs += [os.path.join(machinery, p) for p in MACHINERY_PACKAGES]
    out = ["# Generated by crates/lab/tools/protobuf_schema.py from k8s.io/api and"]
    out.append("# k8s.io/apimachinery v0.33; do not edit. See the script for the format.")
    for d in dirs:
        package, messages = read_proto(os.path.join(d, "generated.proto"))
        structs, slices = read_go(d)
        for message, fields in messages.items():
            full = f"{package}.{message}"
            if message in slices:
                out.append(f"list {full}")
                continue
            go = structs.get(message)
            if go is None:
                # Custom-encoded types (Time, FieldsV1, ...) are read by hand.
                continue
            out.append(f"message {full}")
            for number, typ, repeated in fields:
                if number not in go:
                    continue
                json_name, pointer, omitempty = go[number]
                flags = ("p" if pointer else "") + ("o" if omitempty else "")
                flags += "r" if repeated else ""
                out.append(f"{number} {json_name} {typ} {flags or '-'}")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
