#!/usr/bin/env python3
"""Cache hit ratio of slotcache and redis-server side by side, per eviction policy.

A cache-aside client (GET; on a miss, SET) runs four phases over a Zipf(0.99) key
distribution against each server at the same maxmemory (about 10% of the data set):

  warm     Zipf over keys 0..N, not measured
  steady   the same distribution, measured
  scan     Zipf traffic mixed 1:1 with one-hit-wonder keys never seen again
  shift    Zipf over a different permutation of the keys (the hot set moves)

It prints the hit ratio of each measured phase and the server's RSS, for every policy of
both servers. Servers are started here on free ports and stopped at the end.

It also prints how many keys each server holds at the end.

Usage: scripts/hitratio.py [--keys 200000] [--requests 200000] [--policies allkeys-lru,...]
       SC_ARGS="--maxmemory-samples 10" scripts/hitratio.py   (extra slotcache flags)
"""

import argparse
import bisect
import os
import random
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REDIS_POLICIES = ["allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu",
                  "volatile-random", "volatile-ttl"]
# allkeys-tinylfu is slotcache's own; Redis does not have it.
POLICIES = REDIS_POLICIES[:2] + ["allkeys-tinylfu"] + REDIS_POLICIES[2:]


class Resp:
    """A minimal pipelining RESP2 client: enough for GET, SET, CONFIG, INFO."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(1 << 16)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            return [self._reply() for _ in range(int(rest))]
        if kind == b"-":
            raise RuntimeError(rest.decode())
        return rest

    def pipeline(self, commands):
        out = bytearray()
        for args in commands:
            out += b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return [self._reply() for _ in commands]

    def call(self, *args):
        return self.pipeline([args])[0]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(kind, port, maxmemory, policy):
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--maxmemory", str(maxmemory), "--maxmemory-policy", policy, "--loglevel", "warning"]
    else:
        cmd = [os.path.join(ROOT, "target/release/slotcache"), "--port", str(port), "--bind", "127.0.0.1",
               "--metrics-port", "0", "--maxmemory", str(maxmemory), "--maxmemory-policy", policy,
               "--loglevel", "warning"] + os.environ.get("SC_ARGS", "").split()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            c = Resp(port)
            c.call("PING")
            return proc, c
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"{kind} did not start")


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Zipf:
    def __init__(self, n, s, rng):
        total, self.cdf = 0.0, []
        for i in range(1, n + 1):
            total += 1.0 / i ** s
            self.cdf.append(total)
        self.total, self.rng = total, rng

    def sample(self):
        return bisect.bisect_left(self.cdf, self.rng.random() * self.total)


def run_phase(client, keys, value, ttl, batch=200):
    """Cache-aside over `keys`; returns the hit ratio."""
    hits = 0
    for i in range(0, len(keys), batch):
        chunk = keys[i:i + batch]
        replies = client.pipeline([("GET", k) for k in chunk])
        misses = [k for k, v in zip(chunk, replies) if v is None]
        hits += len(chunk) - len(misses)
        if misses:
            if ttl:
                client.pipeline([("SET", k, value, "EX", ttl) for k in misses])
            else:
                client.pipeline([("SET", k, value) for k in misses])
    return hits / len(keys)


# The workload's seed: scripts/policy_bounds.py replays the same requests.
SEED = 42


def key(i):
    return b"key:%d" % i


def shift_permutation(n, seed):
    """The shift phase's keys by Zipf rank: rank i asks for key(perm[i])."""
    perm = list(range(n))
    random.Random(seed + 1).shuffle(perm)
    return perm


def workload(n, requests, seed):
    rng = random.Random(seed)
    zipf = Zipf(n, 0.99, rng)
    perm = shift_permutation(n, seed)
    warm = [key(zipf.sample()) for _ in range(requests)]
    steady = [key(zipf.sample()) for _ in range(requests)]
    scan = []
    for j in range(requests):
        scan.append(key(zipf.sample()) if j % 2 == 0 else b"once:%d" % j)
    shift = [key(perm[zipf.sample()]) for _ in range(requests)]
    return warm, steady, scan, shift


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--value-size", type=int, default=200)
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--servers", default="redis,slotcache")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    value = b"v" * args.value_size
    # About 10% of the data set: keys and values plus per-key overhead of ~100 bytes.
    maxmemory = int(args.keys * (args.value_size + 100) * 0.10) + 2 * 1024 * 1024
    phases = workload(args.keys, args.requests, SEED)
    print(f"keys={args.keys} requests/phase={args.requests} value={args.value_size}B maxmemory={maxmemory}")
    print(f"{'server':10} {'policy':16} {'steady':>7} {'scan':>7} {'shift':>7} {'keys':>7} {'RSS MB':>7}")
    for policy in args.policies.split(","):
        for kind in args.servers.split(","):
            if kind == "redis" and policy not in REDIS_POLICIES:
                continue
            port = free_port()
            proc, client = start(kind, port, maxmemory, policy)
            try:
                # volatile-* policies only evict keys with a TTL: give every key one.
                ttl = 3600 if policy.startswith("volatile") else None
                ratios = [run_phase(client, keys, value, ttl) for keys in phases]
                held = int(client.call("DBSIZE"))
                print(f"{kind:10} {policy:16} {ratios[1]:7.3f} {ratios[2]:7.3f} {ratios[3]:7.3f} "
                      f"{held:7d} {rss(proc.pid) / 1e6:7.1f}", flush=True)
            finally:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
