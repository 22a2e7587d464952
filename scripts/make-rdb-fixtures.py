#!/usr/bin/env python3
"""Makes the RDB fixtures under tests/fixtures/rdb/ with a real redis-server (7.0).

A deterministic dataset with every type and encoding Redis 7.0 has (strings in their
int/embstr/raw forms, listpack and quicklist lists, listpack and hashtable hashes,
intset and hashtable sets, listpack and skiplist sorted sets, HyperLogLog, bitmaps),
keys with TTLs far in the future, keys in several databases, big and binary values.
Then:

  redis-7.0.rdb            SAVE with the defaults (LZF compression, checksum)
  redis-7.0-plain.rdb      the same data with rdbcompression no, rdbchecksum no
  redis-7.0-lfu.rdb        a few keys under allkeys-lfu (FREQ opcodes)
  keys.txt                 per key: db, key (hex), type, PEXPIRETIME, DEBUG
                           DIGEST-VALUE and DUMP payload (hex), as Redis reports them
  lfu.txt                  per key of the LFU file: key (hex) and OBJECT FREQ

`cargo test` reads these files and needs no Redis. Run this again (with redis-server
7.0 on the PATH) to remake them: scripts/make-rdb-fixtures.py
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "rdb")
FAR_FUTURE_MS = 4102444800000  # 2100-01-01


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Client:
    """A minimal RESP2 client, so the script needs nothing but Python."""

    def __init__(self, port):
        for _ in range(100):
            try:
                self.sock = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit(f"redis-server did not start on port {port}")
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(1 << 16)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError(f"unexpected reply {line!r}")

    def __call__(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._reply()


def stop(proc, r):
    """SHUTDOWN NOSAVE closes the connection instead of replying."""
    try:
        r("SHUTDOWN", "NOSAVE")
    except EOFError:
        pass
    proc.wait()


def start(workdir, *extra):
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", "",
         "--enable-debug-command", "yes", "--appendonly", "no", *extra],
        stdout=subprocess.DEVNULL)
    c = Client(port)
    while c("INFO", "persistence").find(b"loading:0") < 0:
        time.sleep(0.05)
    return proc, c


def fill(r):
    r("SELECT", 0)
    # Strings: int, embstr, raw, compressible, binary, 64-bit integers.
    r("SET", "str:int", "12345")
    r("SET", "str:neg", "-98765")
    r("SET", "str:i64", "9223372036854775807")
    r("SET", "str:lead0", "007")
    r("SET", "str:embstr", "e" * 44)
    r("SET", "str:raw", "r" * 45)
    r("SET", "str:compressible", "abcdefgh" * 5000)
    r("SET", "str:binary", bytes(range(256)) * 4 + b"\r\n\x00end")
    r("SET", "str:empty", "")
    r("APPEND", "str:appended", "grown")
    r("SET", "str:ttl", "lives long")
    r("PEXPIREAT", "str:ttl", FAR_FUTURE_MS)
    r("SETBIT", "bitmap", 100000, 1)
    r("PFADD", "hll:sparse", *[f"e{i}" for i in range(50)])
    r("PFADD", "hll:dense", *[f"e{i}" for i in range(5000)])
    # Lists: a listpack-only quicklist, and one of many nodes with mixed elements.
    r("RPUSH", "list:small", "a", "1", "-2", "bbbb", "300000")
    r("RPUSH", "list:big", *[f"element-{i}" if i % 3 else str(i * 1000) for i in range(3000)])
    r("RPUSH", "list:bigelements", "x" * 10000, "y" * 20000, "z")
    r("RPUSH", "list:ttl", "a", "b")
    r("PEXPIREAT", "list:ttl", FAR_FUTURE_MS + 1)
    # Hashes: listpack and hashtable (by count and by value length).
    r("HSET", "hash:small", "f1", "v1", "f2", "22", "num", "-5")
    r("HSET", "hash:big", *[x for i in range(1000) for x in (f"field{i}", f"value{i}")])
    r("HSET", "hash:longvalue", "f", "v" * 100)
    # Sets: intset (small and 64-bit), hashtable of ints past 512, strings.
    r("SADD", "set:ints", 1, 2, 3, -7, 1000)
    r("SADD", "set:wideints", 1, 1 << 40, -(1 << 35))
    r("SADD", "set:manyints", *range(600))
    r("SADD", "set:strings", "a", "b", "c")
    r("SADD", "set:bigstrings", *[f"member-{i}" for i in range(1000)])
    # Sorted sets: listpack (integer, fractional, infinite scores) and skiplist.
    r("ZADD", "zset:small", 1, "one", 2.5, "two-and-half", "-inf", "low", "+inf", "high", -3, "neg")
    r("ZADD", "zset:big", *[x for i in range(1000) for x in (i * 0.5, f"m{i}")])
    r("ZADD", "zset:longmember", 1, "m" * 100)
    # Other databases.
    for db in (1, 5, 15):
        r("SELECT", db)
        r("SET", f"db{db}:key", f"in database {db}")
        r("RPUSH", f"db{db}:list", "x", "y")
        r("HSET", f"db{db}:hash", "f", "v")
        r("SET", f"db{db}:ttl", "v")
        r("PEXPIREAT", f"db{db}:ttl", FAR_FUTURE_MS + db)
    r("SELECT", 0)


def describe(r, dbs):
    lines = []
    for db in dbs:
        r("SELECT", db)
        cursor, keys = b"0", []
        while True:
            cursor, batch = r("SCAN", cursor, "COUNT", 1000)
            keys += batch
            if cursor == b"0":
                break
        for key in sorted(keys):
            kind = r("TYPE", key).decode()
            expire = r("PEXPIRETIME", key)
            digest = r("DEBUG", "DIGEST-VALUE", key)[0].decode()
            payload = r("DUMP", key)
            lines.append(f"{db} {key.hex()} {kind} {expire} {digest} {payload.hex()}")
    r("SELECT", 0)
    return lines


def main():
    if shutil.which("redis-server") is None:
        sys.exit("redis-server (7.0) is not on the PATH")
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp()
    try:
        proc, r = start(work)
        version = r("INFO", "server").split(b"redis_version:")[1].split(b"\r\n")[0].decode()
        if not version.startswith("7.0."):
            sys.exit(f"need redis-server 7.0, found {version}")
        fill(r)
        r("SAVE")
        shutil.copy(os.path.join(work, "dump.rdb"), os.path.join(OUT, "redis-7.0.rdb"))
        with open(os.path.join(OUT, "keys.txt"), "w") as f:
            f.write("\n".join(describe(r, range(16))) + "\n")
        stop(proc, r)

        # The same data loaded back, saved without compression or checksum.
        proc, r = start(work, "--rdbcompression", "no", "--rdbchecksum", "no")
        r("SAVE")
        shutil.copy(os.path.join(work, "dump.rdb"), os.path.join(OUT, "redis-7.0-plain.rdb"))
        stop(proc, r)
        os.remove(os.path.join(work, "dump.rdb"))

        # LFU counters: keys read different numbers of times.
        proc, r = start(work, "--maxmemory-policy", "allkeys-lfu", "--lfu-log-factor", "0")
        lines = []
        for i, reads in enumerate([0, 3, 20, 200]):
            key = f"lfu:{i}"
            r("SET", key, "v")
            for _ in range(reads):
                r("GET", key)
            lines.append(f"{key.encode().hex()} {r('OBJECT', 'FREQ', key)}")
        r("SAVE")
        shutil.copy(os.path.join(work, "dump.rdb"), os.path.join(OUT, "redis-7.0-lfu.rdb"))
        with open(os.path.join(OUT, "lfu.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        stop(proc, r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"fixtures written to {OUT} (redis {version})")


if __name__ == "__main__":
    main()
