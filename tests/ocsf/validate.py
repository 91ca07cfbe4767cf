#!/usr/bin/env python3
"""Validate OCSF events (NDJSON files, or stdin) against the OCSF JSON
Schema of their class and declared profiles (PyPI ocsf-json-schema, which
packages the OCSF schemas, and jsonschema, draft 2020-12).

  validate.py [--version 1.8.0] FILE...   (or - for stdin)

Prints one line per invalid event (file:line, class, first errors) and a
summary `N valid, M invalid`; exits 1 when any is invalid (or none given).
"""
import json
import sys

from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

args = sys.argv[1:]
version = "1.8.0"
if args[:1] == ["--version"]:
    version, args = args[1], args[2:]
schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
validators = {}
valid = invalid = 0
for path in args or ["-"]:
    f = sys.stdin if path == "-" else open(path)
    for n, line in enumerate(f, 1):
        if not line.strip():
            continue
        ev = json.loads(line)
        profiles = tuple(sorted(ev.get("metadata", {}).get("profiles", [])))
        key = (ev.get("class_uid"), profiles)
        if key not in validators:
            name = schema.lookup_class_name_from_uid(ev["class_uid"])
            validators[key] = Draft202012Validator(schema.get_class_schema(name, list(profiles)))
        errors = sorted(validators[key].iter_errors(ev), key=lambda e: list(e.path))
        if errors:
            invalid += 1
            why = "; ".join(f"{'/'.join(map(str, e.path)) or '.'}: {e.message[:160]}" for e in errors[:4])
            print(f"{path}:{n}: class {ev.get('class_uid')} profiles {list(profiles)}: {why}")
        else:
            valid += 1
print(f"{valid} valid, {invalid} invalid")
sys.exit(1 if invalid or not valid else 0)
