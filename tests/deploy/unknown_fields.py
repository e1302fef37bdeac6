#!/usr/bin/python3
"""Finds fields the Kubernetes API does not have (a typo is silently dropped by
kubectl apply --validate=false and by the JSON schema, which allows extra
properties): each document is deserialized into the official Python client's
model (Debian's python3-kubernetes) and serialized back; whatever is lost was
not an API field.
    unknown_fields.py FILE...   exit 1 when a field is unknown."""
import sys

import yaml
from kubernetes.client import ApiClient


def lost(original, kept, where):
    if isinstance(original, dict):
        for key, value in original.items():
            if not isinstance(kept, dict) or key not in kept:
                yield f"{where}.{key}"
            else:
                yield from lost(value, kept[key], f"{where}.{key}")
    elif isinstance(original, list) and isinstance(kept, list):
        for i, (a, b) in enumerate(zip(original, kept)):
            yield from lost(a, b, f"{where}[{i}]")


def main():
    client = ApiClient()
    failed = 0
    for path in sys.argv[1:]:
        with open(path) as f:
            for n, doc in enumerate(yaml.safe_load_all(f), 1):
                if doc is None:
                    continue
                version = doc["apiVersion"].split("/")[-1]
                model = version.capitalize() + doc["kind"]
                kept = client.sanitize_for_serialization(client._ApiClient__deserialize(doc, model))
                unknown = list(lost(doc, kept, ""))
                name = f"{path} document {n} ({doc['kind']} {doc.get('metadata', {}).get('name')})"
                if unknown:
                    failed += 1
                    print(f"FAIL {name}: not API fields: {', '.join(u.lstrip('.') for u in unknown)}")
                else:
                    print(f"ok   {name}: every field is an API field of {model}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
