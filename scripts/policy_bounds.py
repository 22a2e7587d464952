#!/usr/bin/env python3
"""Hit ratios of exact (unsampled) eviction policies on scripts/hitratio.py's workload.

Replays the same requests (same seed, same cache-aside batches of 200) through
in-process caches holding a fixed number of keys, to bound what an eviction policy can
add at a given key count, apart from sampling and memory accounting:

  lru        exact LRU
  lfu        exact LFU, counts of stored keys only (ties: least recently used)
  lfu-hist   exact LFU whose counts are kept for keys no longer stored
  lfu-aged   lfu-hist with every count halved each 10 requests per key of capacity
             (what allkeys-tinylfu approximates with its sketch)
  w-tinylfu  W-TinyLFU: 1% LRU window, segmented LRU main, exact aged frequencies
  a0         the ideal for requests drawn independently (Aho, Denning and Ullman's A0):
             always holds the keys most likely to be asked for in the phase, which
             only an oracle of the distribution knows; no online policy beats it on
             average, so it bounds every policy at that key count

Usage: scripts/policy_bounds.py [--capacity 29800] [--policies lru,lfu,...]
"""

import argparse
import heapq
import importlib.util
import os
from collections import OrderedDict, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("hitratio", os.path.join(HERE, "hitratio.py"))
hitratio = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hitratio)


class Lru:
    def __init__(self, cap):
        self.cap, self.d = cap, OrderedDict()

    def get(self, k):
        if k in self.d:
            self.d.move_to_end(k)
            return True
        return False

    def set(self, k):
        self.d[k] = True
        self.d.move_to_end(k)
        while len(self.d) > self.cap:
            self.d.popitem(last=False)


class Lfu:
    """Evicts the lowest count, least recently used among equals (lazy heap)."""

    def __init__(self, cap, history=False, age_every=0):
        self.cap, self.history, self.age_every = cap, history, age_every
        self.count, self.stored, self.heap = defaultdict(int), {}, []
        self.t = self.seen = 0

    def _age(self):
        self.seen += 1
        if self.age_every and self.seen >= self.age_every:
            self.seen = 0
            for k in list(self.count):
                self.count[k] //= 2
                if self.count[k] == 0 and k not in self.stored:
                    del self.count[k]
            self.heap = [(self.count[k], t, k) for k, t in self.stored.items()]
            heapq.heapify(self.heap)

    def get(self, k):
        self.t += 1
        self._age()
        if self.history or k in self.stored:
            self.count[k] += 1
        if k in self.stored:
            self.stored[k] = self.t
            heapq.heappush(self.heap, (self.count[k], self.t, k))
            return True
        return False

    def set(self, k):
        self.t += 1
        if not self.history:
            self.count[k] = max(self.count[k], 1)
        self.stored[k] = self.t
        heapq.heappush(self.heap, (self.count[k], self.t, k))
        while len(self.stored) > self.cap:
            c, t, v = heapq.heappop(self.heap)
            if self.stored.get(v) == t and self.count[v] == c:
                del self.stored[v]
                if not self.history:
                    del self.count[v]


class WTinyLfu:
    def __init__(self, cap, window=0.01, protected=0.8, age_factor=10):
        self.w = max(1, int(cap * window))
        self.main = cap - self.w
        self.pcap = int(self.main * protected)
        self.window, self.probation, self.protected = OrderedDict(), OrderedDict(), OrderedDict()
        self.freq, self.seen, self.age_every = defaultdict(int), 0, age_factor * cap

    def _record(self, k):
        self.freq[k] += 1
        self.seen += 1
        if self.seen >= self.age_every:
            self.seen //= 2
            for x in list(self.freq):
                self.freq[x] //= 2
                if not self.freq[x]:
                    del self.freq[x]

    def get(self, k):
        self._record(k)
        if k in self.window:
            self.window.move_to_end(k)
            return True
        if k in self.probation:
            del self.probation[k]
            self.protected[k] = True
            if len(self.protected) > self.pcap:
                v, _ = self.protected.popitem(last=False)
                self.probation[v] = True
            return True
        if k in self.protected:
            self.protected.move_to_end(k)
            return True
        return False

    def set(self, k):
        if k in self.window or k in self.probation or k in self.protected:
            return
        self.window[k] = True
        if len(self.window) <= self.w:
            return
        cand, _ = self.window.popitem(last=False)
        if len(self.probation) + len(self.protected) < self.main:
            self.probation[cand] = True
            return
        victims = self.probation if self.probation else self.protected
        victim = next(iter(victims))
        if self.freq[cand] > self.freq[victim]:
            del victims[victim]
            self.probation[cand] = True


class A0:
    """Holds a fixed set of keys: the most probable ones of the phase."""

    def __init__(self, keys):
        self.keys = keys

    def get(self, k):
        return k in self.keys

    def set(self, k):
        pass


def a0_caches(n, capacity, seed):
    """A0's key set per phase: the Zipf ranks below `capacity`, in hitratio.workload's
    naming (the shift phase draws the same ranks through its permutation)."""
    perm = hitratio.shift_permutation(n, seed)
    plain = A0({hitratio.key(i) for i in range(capacity)})
    shifted = A0({hitratio.key(perm[i]) for i in range(capacity)})
    return [plain, plain, plain, shifted]


def replay(cache, keys, batch=200):
    hits = 0
    for i in range(0, len(keys), batch):
        misses = []
        for k in keys[i:i + batch]:
            if cache.get(k):
                hits += 1
            else:
                misses.append(k)
        for k in misses:
            cache.set(k)
    return hits / len(keys)


POLICIES = {
    "lru": lambda c: Lru(c),
    "lfu": lambda c: Lfu(c),
    "lfu-hist": lambda c: Lfu(c, history=True),
    "lfu-aged": lambda c: Lfu(c, history=True, age_every=10 * c),
    "w-tinylfu": lambda c: WTinyLfu(c),
}
# A0 is built per phase from the workload, not from a capacity alone.
NAMES = list(POLICIES) + ["a0"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--capacity", type=int, default=29_800)
    ap.add_argument("--policies", default=",".join(NAMES))
    args = ap.parse_args()
    phases = hitratio.workload(args.keys, args.requests, hitratio.SEED)
    print(f"keys={args.keys} requests/phase={args.requests} capacity={args.capacity}")
    print(f"{'policy':10} {'steady':>7} {'scan':>7} {'shift':>7} {'mean':>7}")
    for name in args.policies.split(","):
        if name == "a0":
            caches = a0_caches(args.keys, args.capacity, hitratio.SEED)
        else:
            # One cache carried through every phase.
            caches = [POLICIES[name](args.capacity)] * len(phases)
        r = [replay(cache, keys) for cache, keys in zip(caches, phases)][1:]
        print(f"{name:10} {r[0]:7.3f} {r[1]:7.3f} {r[2]:7.3f} {sum(r) / 3:7.3f}", flush=True)


if __name__ == "__main__":
    main()
