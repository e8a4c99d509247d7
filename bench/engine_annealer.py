#!/usr/bin/env python3
"""Annealer benchmark driver (stdlib only).

Against a running Fulcrum at --api: registers N nodes through the discovery
endpoint (alive at once), creates 5 noop roles chained r1 <- r2 <- ... <- r5
(r1..r4 implicit, so each node gets its own chain), binds r5 on every node
(binding r1..r4 with it: 5 noderoles per node), waits until the discovery
noderoles have settled, commits, and measures the time from commit to all
ACTIVE. Then it checks the invariants from the persisted run log:
  - at most one run per node at any moment,
  - at most CAP runs in the whole system at any moment,
  - no run starts before every parent noderole's last run ended.
Prints one JSON line of results.
"""
import argparse
import json
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor


TOKEN = None  # the API token (--token), when the server wants one
TLS = None  # an ssl context trusting --cacert, for an https API


def call(api, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"}
    if TOKEN:
        headers["authorization"] = f"Bearer {TOKEN}"
    req = urllib.request.Request(api + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120, context=TLS) as r:
            text = r.read()
            return r.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def ok(api, method, path, body=None):
    code, v = call(api, method, path, body)
    if not 200 <= code < 300:
        sys.exit(f"{method} {path}: {code} {v}")
    return v


def parallel(fn, items, workers):
    with ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(fn, items))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True)
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--cap", type=int, default=10)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--token", default=None, help="API token (the admin token of the server's data dir)")
    ap.add_argument("--cacert", default=None, help="the API's certificate (data_dir/tls/cert.pem), for https")
    a = ap.parse_args()
    global TOKEN, TLS
    TOKEN = a.token
    if a.cacert:
        import ssl
        TLS = ssl.create_default_context(cafile=a.cacert)
    api = a.api.rstrip("/")
    n = a.nodes
    ok(api, "POST", "/api/v1/networks", {
        "name": "bench", "subnet": "10.200.0.0/16", "server": "10.200.0.1",
        "static": {"start": "10.200.1.0", "end": "10.200.255.254"}, "domain": "bench.test"})
    t0 = time.time()
    macs = ["52:55:%02x:%02x:%02x:%02x" % (i >> 24 & 255, i >> 16 & 255, i >> 8 & 255, i & 255) for i in range(n)]
    nodes = parallel(lambda m: ok(api, "POST", "/api/v1/discover", {"mac": m})["name"], macs, a.workers)
    t_nodes = time.time() - t0
    for i in range(1, 6):
        role = {"name": f"r{i}", "jig": "noop", "requires": [f"r{i-1}"] if i > 1 else [], "provision_states": "any"}
        if i < 5:
            role["flags"] = ["implicit"]
        ok(api, "POST", "/api/v1/roles", role)
    ok(api, "POST", "/api/v1/deployments", {"name": "bench"})
    t0 = time.time()
    parallel(lambda nd: ok(api, "POST", "/api/v1/noderoles", {"deployment": "bench", "role": "r5", "node": nd}), nodes, a.workers)
    t_bind = time.time() - t0
    # Let the discovery noderoles (system deployment) finish first.
    deadline = time.time() + a.timeout
    while call(api, "GET", "/api/v1/anneal?deployment=system")[0] != 200:
        if time.time() > deadline:
            sys.exit("system deployment did not settle")
        time.sleep(0.2)
    t0 = time.time()
    ok(api, "POST", "/api/v1/deployments/bench/commit")
    t_commit_call = time.time() - t0
    while True:
        code, v = call(api, "GET", "/api/v1/anneal?deployment=bench")
        if code == 200:
            break
        if code == 409 or time.time() > deadline:
            sys.exit(f"annealing failed or timed out: {v}")
        time.sleep(0.05)
    t_anneal = time.time() - t0
    # Invariants from the run log.
    runs = ok(api, "GET", "/api/v1/runs?deployment=bench&brief=true")
    nrs = ok(api, "GET", "/api/v1/noderoles?deployment=bench")
    active = sum(1 for x in nrs if x["state"] == "active")
    parents = {x["id"]: x["parents"] for x in nrs}
    last_end = {}
    for r in runs:
        last_end[r["noderole"]] = max(last_end.get(r["noderole"], 0), r["ended_ms"])
    violations = []
    by_node = {}
    for r in runs:
        by_node.setdefault(r["node"], []).append((r["started_ms"], r["ended_ms"]))
        for p in parents.get(r["noderole"], []):
            if p in last_end and r["started_ms"] < last_end[p]:
                violations.append(f"run {r['id']} started before parent {p} ended")
    for node, iv in by_node.items():
        iv.sort()
        for (s1, e1), (s2, e2) in zip(iv, iv[1:]):
            if s2 < e1:
                violations.append(f"two runs at once on {node}")
    edges = sorted([(r["started_ms"], 1) for r in runs] + [(r["ended_ms"], -1) for r in runs], key=lambda x: (x[0], x[1]))
    cur = peak = 0
    for _, d in edges:
        cur += d
        peak = max(peak, cur)
    if peak > a.cap:
        violations.append(f"{peak} runs at once > cap {a.cap}")
    # Transitions: commit moved each PROPOSED noderole, then each run is
    # TODO->TRANSITION->ACTIVE, and each blocked one also BLOCKED->TODO.
    blocked_initially = 4 * n
    transitions = 5 * n + 2 * len(runs) + blocked_initially
    print(json.dumps({
        "nodes": n, "noderoles": len(nrs), "active": active, "runs": len(runs), "cap": a.cap,
        "register_nodes_s": round(t_nodes, 2), "bind_s": round(t_bind, 2), "commit_call_s": round(t_commit_call, 2),
        "commit_to_all_active_s": round(t_anneal, 2), "transitions": transitions,
        "transitions_per_s": round(transitions / t_anneal), "runs_per_s": round(len(runs) / t_anneal),
        "peak_concurrent_runs": peak, "violations": len(violations), "first_violations": violations[:5],
    }))


if __name__ == "__main__":
    main()
