#!/usr/bin/env python3
"""The benchmarks' resident set as a `redis-cli --pipe` stream on stdout.

1,000,000 keys `key:000000000000`... with 100-byte values (the keys redis-benchmark's
`-r 1000000` draws, so every GET hits), 1,000,000 other 100-byte keys and 100,000 keys
of 1 KiB, each written once. Used by scripts/bench.sh and scripts/profile.sh:

    python3 scripts/resident.py | redis-cli -p PORT --pipe
"""
import sys

out = sys.stdout.buffer


def put(prefix, fmt, n, size):
    val = b"v" * size
    for i in range(n):
        k = prefix + fmt % i
        out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, size, val))


put(b"key:", b"%012d", 1000000, 100)
put(b"other:", b"%07d", 1000000, 100)
put(b"big:", b"%06d", 100000, 1024)
