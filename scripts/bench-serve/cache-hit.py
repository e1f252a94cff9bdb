#!/usr/bin/env python3
"""Cache-hit latency as a Python trainer sees it (grpcio), for bench:serve.

    /usr/bin/python3 scripts/bench-serve/cache-hit.py --addr HOST:PORT --image PNG --prompt P --response R [--system S] [--n 2000]

Scores the item once (the miss that fills the reward cache), then times n
identical calls sequentially: with the image bytes, and with the image's
sha256 only; and n health Checks on the same channel, the round trip's floor.
Prints one JSON line of p50/p99 in milliseconds.
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
import grpc  # noqa: E402
from client import load_stubs, wait_serving  # noqa: E402


def timed(fn, n):
    for _ in range(min(200, n)):
        fn()
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        lat.append((time.perf_counter() - t) * 1000.0)
    lat.sort()
    return {"p50": lat[n // 2], "p99": lat[min(n - 1, int(n * 0.99))], "calls": n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--system", default="")
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--response", required=True)
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    with open(args.image, "rb") as f:
        data = f.read()
    with tempfile.TemporaryDirectory(prefix="mrm-stubs-") as out_dir:
        pb2, pb2_grpc, health_pb2, health_pb2_grpc = load_stubs(out_dir)
        with grpc.insecure_channel(args.addr) as channel:
            wait_serving(channel, health_pb2, health_pb2_grpc, 30)
            stub = pb2_grpc.RewardServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)

            def request(image):
                return pb2.ScoreRequest(items=[pb2.Item(images=[image], system=args.system, prompt=args.prompt, response=args.response)])

            by_bytes = request(pb2.Image(data=data))
            by_sha = request(pb2.Image(sha256=hashlib.sha256(data).hexdigest()))
            first = stub.Score(by_bytes, timeout=30)
            hit = stub.Score(by_bytes, timeout=30)
            if first.items[0].cached or not hit.items[0].cached:
                sys.exit("expected a miss, then a cache hit; got cached=%s, %s" % (first.items[0].cached, hit.items[0].cached))
            out = {
                "bytes": timed(lambda: stub.Score(by_bytes, timeout=5), args.n),
                "sha": timed(lambda: stub.Score(by_sha, timeout=5), args.n),
                "floor": timed(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5), args.n),
                "reward": hit.items[0].reward,
            }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
