#!/usr/bin/env python3
"""The persistence benchmark's dataset as a `redis-cli --pipe` stream on stdout.

1,000,000 keys `key:000000000000`... with 100-byte values, and 1,000 collections of
10,000 elements each: 250 hashes, 250 lists, 250 sets and 250 sorted sets (elements of
10 to 20 bytes). Values are pseudo-random letters (a fixed seed), so compression
finds what it would in real data, not runs of one byte. Used by scripts/bench.sh
(MODE=persistence):

    python3 scripts/persist_data.py | redis-cli -p PORT --pipe
"""
import random
import sys

out = sys.stdout.buffer
rng = random.Random(7)
ALPHABET = b"abcdefghijklmnopqrstuvwxyz0123456789"
# A pool of random values to pick from: generating each one would take minutes.
POOL = [bytes(rng.choice(ALPHABET) for _ in range(100)) for _ in range(4096)]


def command(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))


for i in range(1000000):
    command(b"SET", b"key:%012d" % i, POOL[i % len(POOL)][:90] + b"%010d" % i)

CHUNK = 1000
for c in range(1000):
    kind = c % 4
    name = [b"hash", b"list", b"set", b"zset"][kind] + b":%04d" % c
    for start in range(0, 10000, CHUNK):
        elems = [POOL[(c + j) % len(POOL)][: 10 + j % 10] + b"%05d" % j for j in range(start, start + CHUNK)]
        if kind == 0:
            args = [b"HSET", name]
            for j, e in enumerate(elems):
                args += [b"f%05d" % (start + j), e]
        elif kind == 1:
            args = [b"RPUSH", name] + elems
        elif kind == 2:
            args = [b"SADD", name] + elems
        else:
            args = [b"ZADD", name]
            for j, e in enumerate(elems):
                args += [b"%d" % (start + j), e]
        command(*args)
