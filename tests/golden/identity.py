#!/usr/bin/env python3
"""Recomputes a domain name and UUID from a pod identity, independently of the
C++ code, for reviewing goldens: identity.py NAMESPACE NAME UID [ATTEMPT].

Rule (mapper/domain_identity.h): key = ns NUL name NUL uid NUL attempt;
hash = 64-bit FNV-1a (offset basis XOR seed) finished with a splitmix64 step;
name = vmmap-<ns[:16]>-<name[:26]>-<hash >> 16 as 12 hex digits>;
uuid = hash(key, seed "vmmap") and hash(key, seed "uuid") laid out as an
RFC 4122 UUID with version 8 and the 10xx variant."""
import sys

M = (1 << 64) - 1


def stable_hash(data: bytes, seed: int = 0) -> int:
    h = 0xCBF29CE484222325 ^ seed
    for c in data:
        h ^= c
        h = (h * 0x100000001B3) & M
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & M
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & M
    h ^= h >> 31
    return h


def main() -> None:
    ns, name, uid = sys.argv[1:4]
    attempt = sys.argv[4] if len(sys.argv) > 4 else "0"
    key = b"\0".join(s.encode() for s in (ns, name, uid, attempt))
    print(f"vmmap-{ns[:16]}-{name[:26]}-{stable_hash(key) >> 16:012x}")
    hi = stable_hash(key, 0x766D6D6170)
    lo = stable_hash(key, 0x75756964)
    hi = (hi & ~0xF000 & M) | 0x8000
    lo = (lo & ~(0xC0 << 56) & M) | (0x80 << 56)
    print(f"{hi >> 32:08x}-{(hi >> 16) & 0xFFFF:04x}-{hi & 0xFFFF:04x}-{lo >> 48:04x}-{lo & 0xFFFFFFFFFFFF:012x}")


if __name__ == "__main__":
    main()
