#!/usr/bin/env python3
"""A Python client of mrm-serve's RewardService, as an RLHF trainer would use it.

Stubs are generated from the repository's protos at run time into a temp
directory (grpc_tools), so there is no generated code to keep in sync:

    apt-get install -y python3-grpcio python3-grpc-tools protobuf-compiler
    /usr/bin/python3 examples/python/client.py --addr 127.0.0.1:50051

It waits for health SERVING, scores items and a GRPO group, compares two
responses, pipelines requests on ScoreStream, and shows the resend-on-NOT_FOUND
pattern for images sent by sha256. It exits non-zero if anything is wrong.
"""
import argparse
import hashlib
import os
import re
import struct
import sys
import tempfile
import time
import zlib

import grpc
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))


def load_stubs(out_dir):
    """Generate and import the reward and health stubs."""
    # The health proto is generated from its own directory so its module is
    # `health_pb2`: a generated `grpc/health/...` package would be shadowed by
    # the installed `grpc` package.
    jobs = [
        (PROTO_DIR, "mrm/v1/reward.proto"),
        (os.path.join(PROTO_DIR, "grpc", "health", "v1"), "health.proto"),
    ]
    for include, proto in jobs:
        args = ["grpc_tools.protoc", "-I" + include, "--python_out=" + out_dir, "--grpc_python_out=" + out_dir, proto]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed on " + proto)
    sys.path.insert(0, out_dir)
    from mrm.v1 import reward_pb2, reward_pb2_grpc  # noqa: E402
    import health_pb2, health_pb2_grpc  # noqa: E402
    return reward_pb2, reward_pb2_grpc, health_pb2, health_pb2_grpc


def circle_png(size, rgb):
    """A PNG of one large filled circle on white (as ShapesWorld draws them), made without PIL."""
    c, r2 = size / 2.0, (size * 0.12) ** 2
    rows = b"".join(
        b"\x00" + b"".join(bytes(rgb) if (x - c) ** 2 + (y - c) ** 2 <= r2 else b"\xff\xff\xff" for x in range(size))
        for y in range(size))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def check_addr(addr):
    """HOST:PORT, or exit 2 with one line; a bare port would be taken as a host name."""
    if re.fullmatch(r"\d+", addr):
        print("%s: --addr %s: expected HOST:PORT; for a local server write --addr 127.0.0.1:%s" % (os.path.basename(sys.argv[0]), addr, addr), file=sys.stderr)
        sys.exit(2)
    if not re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[^:\s/]+):\d{1,5}", addr):
        print("%s: --addr %s: expected HOST:PORT, e.g. 127.0.0.1:50051" % (os.path.basename(sys.argv[0]), addr), file=sys.stderr)
        sys.exit(2)
    return addr


def wait_serving(channel, health_pb2, health_pb2_grpc, timeout_s, connect_timeout_s=5.0):
    """Health is NOT_SERVING while the model loads; poll until SERVING.

    The server listens before its model is loaded, so a connection that is not
    up within connect_timeout_s means nothing is listening: say so in one line
    (SystemExit, no traceback) instead of polling for the whole timeout_s.
    """
    try:
        grpc.channel_ready_future(channel).result(timeout=connect_timeout_s)
    except grpc.FutureTimeoutError:
        raise SystemExit("%s: no server answered within %.0f s; start one with `npm start` (or mrm serve) or give --addr HOST:PORT"
                         % (os.path.basename(sys.argv[0]), connect_timeout_s))
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.time() + timeout_s
    while True:
        try:
            res = stub.Check(health_pb2.HealthCheckRequest(service="mrm.v1.RewardService"), timeout=2)
            if res.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNAVAILABLE:
                raise
        if time.time() > deadline:
            raise SystemExit("%s: the server did not report SERVING within %.0f s (its log says why)" % (os.path.basename(sys.argv[0]), timeout_s))
        time.sleep(0.2)


class ImageSender:
    """Sends each image's bytes once, then only its sha256.

    The server keeps received images in a bounded cache; per replica, and it
    may evict. NOT_FOUND for a sha256 means: resend with the bytes.
    """

    def __init__(self, pb2):
        self.pb2 = pb2
        self.known = set()

    def image(self, data, by_ref):
        sha = hashlib.sha256(data).hexdigest()
        if by_ref and sha in self.known:
            return self.pb2.Image(sha256=sha)
        return self.pb2.Image(data=data)

    def score(self, stub, build, timeout=30.0):
        """`build(image)` makes the request with `image(bytes)` for every image."""
        sent = []

        def by_ref(data):
            sent.append(hashlib.sha256(data).hexdigest())
            return self.image(data, True)

        try:
            res = call_with_pushback(stub.Score, build(by_ref), timeout=timeout)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND:
                raise
            print("NOT_FOUND (%s): resending image bytes" % err.details())
            res = stub.Score(build(lambda data: self.image(data, False)), timeout=timeout)
        self.known.update(sent)
        return res


def call_with_pushback(fn, request, timeout=30.0, attempts=5):
    """Call `fn(request)`, retrying RESOURCE_EXHAUSTED (the server is over its
    in-flight budget or cannot meet the deadline) after the server's
    `grpc-retry-pushback-ms` hint, else exponential backoff with jitter."""
    import random
    deadline = time.monotonic() + timeout
    backoff = 0.05
    for attempt in range(attempts):
        try:
            return fn(request, timeout=max(0.01, deadline - time.monotonic()))
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or attempt == attempts - 1:
                raise
            hint = dict(err.trailing_metadata() or ()).get("grpc-retry-pushback-ms")
            wait = int(hint) / 1000.0 if hint else backoff * (1 + random.random())
            backoff *= 2
            if time.monotonic() + wait >= deadline:
                raise
            print("RESOURCE_EXHAUSTED (%s): retrying in %.0f ms" % (err.details(), wait * 1000))
            time.sleep(wait)


def fmt(r):
    return "reward %+.4f  normalized %+.4f  spread %.4f%s%s" % (
        r.reward, r.normalized_reward, r.spread, "  cached" if r.cached else "", "  truncated" if r.truncated else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="127.0.0.1:50051")
    ap.add_argument("--wait", type=float, default=60.0, help="seconds to wait for SERVING once connected")
    ap.add_argument("--connect-timeout", type=float, default=5.0, help="seconds to wait for a connection")
    args = ap.parse_args()
    check_addr(args.addr)

    with tempfile.TemporaryDirectory(prefix="mrm-stubs-") as out_dir:
        pb2, pb2_grpc, health_pb2, health_pb2_grpc = load_stubs(out_dir)
        # Match the server's receive limit (default 32 MiB) so large batches are not refused client-side.
        options = [("grpc.max_send_message_length", 32 * 1024 * 1024), ("grpc.max_receive_message_length", 32 * 1024 * 1024)]
        # One channel is one HTTP/2 connection. Keep at most the server's
        # connections.maxConcurrentStreams (1000) calls in flight on it, and open
        # more channels for more: grpcio (1.51 here) may send RST_STREAM for a
        # call whose deadline passes while it waits for a stream slot, before
        # its HEADERS went out (grpc/grpc#19655, #38758). RFC 9113 section 6.4
        # makes that a connection error, so the server closes the connection
        # and every call on it ends INTERNAL ("RST_STREAM with error code 2").
        with grpc.insecure_channel(args.addr, options=options) as channel:
            wait_serving(channel, health_pb2, health_pb2_grpc, args.wait, args.connect_timeout)
            print("health: SERVING")
            stub = pb2_grpc.RewardServiceStub(channel)
            run(stub, pb2)
    print("ok")


def run(stub, pb2):
    red = circle_png(128, (220, 40, 40))
    blue = circle_png(128, (40, 80, 220))
    prompt = "What color is the circle?"

    # Score: items (each with its own image) and a GRPO group (N responses, one image).
    res = stub.Score(pb2.ScoreRequest(
        request_id="step-1",
        items=[
            pb2.Item(images=[pb2.Image(data=red)], prompt=prompt, response="It is red.", id="a"),
            pb2.Item(images=[pb2.Image(data=blue)], prompt=prompt, response="It is red.", id="b"),
        ],
        groups=[pb2.Group(images=[pb2.Image(data=red)], prompt=prompt,
                          responses=["Red.", "Blue.", "The circle is red.", "The circle is green."], id="g0")],
    ), timeout=30)
    model = "%s v%d" % (res.model.name, res.model.version)
    print("Score (%s, request %s):" % (model, res.request_id))
    for r in res.items:
        print("  item %s: %s" % (r.id, fmt(r)))
    for g in res.groups:
        for i, r in enumerate(g.responses):
            print("  group %s response %d: %s" % (g.id, i, fmt(r)))
    assert [r.id for r in res.items] == ["a", "b"]
    assert len(res.groups) == 1 and len(res.groups[0].responses) == 4

    # Compare: P(a > b) = sigmoid(reward(a) - reward(b)).
    cmp = stub.Compare(pb2.CompareRequest(pairs=[
        pb2.Pair(images=[pb2.Image(data=red)], prompt=prompt, response_a="It is red.", response_b="It is blue.", id="p0"),
    ]), timeout=30)
    p = cmp.pairs[0]
    print("Compare (%s v%d): P(a > b) = %.4f, margin %+.4f" % (cmp.model.name, cmp.model.version, p.probability_a, p.margin))
    assert abs(p.margin - (p.a.reward - p.b.reward)) < 1e-4

    # sha256 references: the first request sends a sha the server has never
    # seen, gets NOT_FOUND and resends the bytes; the second sends only the sha.
    sender = ImageSender(pb2)
    green = circle_png(128, (40, 170, 60))
    sender.known.add(hashlib.sha256(green).hexdigest())  # pretend we sent it to another replica
    build = lambda image: pb2.ScoreRequest(groups=[pb2.Group(images=[image(green)], prompt=prompt, responses=["Green.", "Red."])])
    first = sender.score(stub, build)
    second = sender.score(stub, build)
    print("by sha256: first %s / second %s" % (fmt(first.groups[0].responses[0]), fmt(second.groups[0].responses[0])))
    assert second.groups[0].responses[0].cached

    # ScoreStream: pipelined requests; responses carry request_id and may come back in any order.
    reqs = [pb2.ScoreRequest(request_id="s%d" % i, items=[pb2.Item(images=[pb2.Image(data=blue)], prompt=prompt, response="answer %d" % i)])
            for i in range(8)]
    seen = {}
    for r in stub.ScoreStream(iter(reqs), timeout=30):
        if r.HasField("error"):
            raise RuntimeError("stream request %s failed: %s" % (r.request_id, r.error.message))
        seen[r.request_id] = r.items[0].reward
    print("ScoreStream: %d responses" % len(seen))
    assert sorted(seen) == sorted(q.request_id for q in reqs)

    # Errors are statuses with the field named.
    try:
        stub.Score(pb2.ScoreRequest(items=[pb2.Item(prompt=prompt, response="")]), timeout=30)
        raise AssertionError("an empty response must be refused")
    except grpc.RpcError as err:
        print("INVALID_ARGUMENT as expected: %s" % err.details())
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "items[0].response" in err.details()


if __name__ == "__main__":
    main()
