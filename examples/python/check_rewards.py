#!/usr/bin/env python3
"""Check that a running mrm-serve gives the rewards an offline `mrm eval` gave.

    mrm data gen --seed 7 --n 64 --out data
    mrm eval --data data --rewards rewards.jsonl
    /usr/bin/python3 examples/python/check_rewards.py --addr 127.0.0.1:50051 \
        --rewards rewards.jsonl --images data/images

Each line of rewards.jsonl names its images by sha256; --images is searched for
files with those contents. Every pair is sent as a Compare (the chosen
response as a, the rejected one as b) and the server's raw reward, normalized
reward and spread of both sides are compared with the file, matched by id. It
prints the largest difference and exits 1 if any exceeds --tolerance, if the
server answered other pairs than were sent, or if it scored with another
model version than the file's.
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile

import grpc

from client import check_addr, load_stubs, wait_serving


def index_images(root):
    """sha256 -> bytes of every file under root."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                data = f.read()
            out[hashlib.sha256(data).hexdigest()] = data
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="127.0.0.1:50051")
    ap.add_argument("--rewards", required=True, help="JSONL written by mrm eval --rewards")
    ap.add_argument("--images", required=True, help="directory holding the images the file names by sha256")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--batch", type=int, default=32, help="pairs per Compare request")
    ap.add_argument("--wait", type=float, default=60.0, help="seconds to wait for SERVING")
    args = ap.parse_args()
    check_addr(args.addr)

    with open(args.rewards) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    images = index_images(args.images)
    if len({r["id"] for r in rows}) != len(rows):
        sys.exit("%s: pair ids are not unique; answers could not be matched to rows" % args.rewards)
    missing = sorted({sha for r in rows for sha in r["images"] if sha not in images})
    if missing:
        sys.exit("no file under %s has sha256 %s" % (args.images, missing[0]))

    with tempfile.TemporaryDirectory(prefix="mrm-stubs-") as out_dir:
        pb2, pb2_grpc, health_pb2, health_pb2_grpc = load_stubs(out_dir)
        with grpc.insecure_channel(args.addr) as channel:
            wait_serving(channel, health_pb2, health_pb2_grpc, args.wait)
            print("health: SERVING")
            stub = pb2_grpc.RewardServiceStub(channel)
            worst, worst_at, versions, answered = 0.0, None, set(), 0
            for start in range(0, len(rows), args.batch):
                batch = rows[start:start + args.batch]
                res = stub.Compare(pb2.CompareRequest(pairs=[
                    pb2.Pair(images=[pb2.Image(data=images[sha]) for sha in r["images"]], system=r.get("system", ""),
                             prompt=r["prompt"], response_a=r["chosen"], response_b=r["rejected"], id=r["id"])
                    for r in batch]), timeout=60)
                versions.add((res.model.name, res.model.version))
                # Matched by id, every one: a server that drops, reorders or
                # invents pairs must not pass as one that agrees.
                got_ids = [p.id for p in res.pairs]
                if got_ids != [r["id"] for r in batch]:
                    sys.exit("the server answered pairs %s for a request of %s" % (got_ids, [r["id"] for r in batch]))
                answered += len(res.pairs)
                for r, p in zip(batch, res.pairs):
                    for side, got in (("chosen", p.a), ("rejected", p.b)):
                        want = r["rewards"][side]
                        for key, value in (("reward", got.reward), ("normalized", got.normalized_reward), ("spread", got.spread)):
                            d = abs(value - want[key])
                            if d > worst:
                                worst, worst_at = d, "%s %s %s: server %.6f, file %.6f" % (r["id"], side, key, value, want[key])
    expected = {(r["model"]["name"], r["model"]["version"]) for r in rows}
    print("pairs: %d; answered by the server: %d; server model %s; file model %s" % (len(rows), answered, sorted(versions), sorted(expected)))
    print("largest difference: %.3g%s" % (worst, " (" + worst_at + ")" if worst_at else ""))
    if versions != expected:
        sys.exit("the server scored with another model version than the file's")
    if worst > args.tolerance:
        sys.exit("difference %.3g exceeds the tolerance %.3g" % (worst, args.tolerance))
    print("ok: every reward, normalized reward and spread within %.0e" % args.tolerance)


if __name__ == "__main__":
    main()
