"""One flood client process in Python grpcio (C core), the same line protocol
as scripts/flood-client.ts: says {"ready": ...}, then runs the phases its
parent (scripts/flood.ts --client python) writes on stdin. grpcio spends far
less CPU per call than grpc-js, so the clients leave the cores to the server.

  python3 flood_client.py <address> <images.json> <floodCalls> <deadlineMs> <deadlineEvery> <callsPerConnection>

images.json: [{"png": path, "prompt": ..., "response": ...}, ...] (flood
images first, then the probe's).
"""
import asyncio
import json
import os
import sys
import tempfile
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "python"))
from client import load_stubs  # noqa: E402

address, images_json, flood_arg, deadline_arg, every_arg, per_conn_arg = sys.argv[1:7]
flood_calls = int(flood_arg)
deadline_s = int(deadline_arg) / 1000.0
deadline_every = int(every_arg)
per_connection = int(per_conn_arg)

pb2, pb2_grpc, _, _ = load_stubs(tempfile.mkdtemp(prefix="mrm-flood-py-"))
with open(images_json) as f:
    items = json.load(f)
requests = []
for it in items:
    with open(it["png"], "rb") as f:
        data = f.read()
    requests.append(pb2.ScoreRequest(items=[pb2.Item(images=[pb2.Image(data=data)], prompt=it["prompt"], response=it["response"])]))
probe_images = len(requests) - flood_calls


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main():
    connections = max(1, -(-flood_calls // per_connection))
    # A local subchannel pool per channel: each is its own connection.
    channels = [grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]) for _ in range(connections)]
    stubs = [pb2_grpc.RewardServiceStub(ch) for ch in channels]

    details_seen = {}

    async def call(i, stub, timeout, t_flood=None):
        t0 = time.perf_counter()
        try:
            await stub.Score(requests[i], timeout=timeout)
            return "OK", (time.perf_counter() - t0) * 1000, False, False, t0
        except grpc.aio.AioRpcError as err:
            ms = (time.perf_counter() - t0) * 1000
            md = [kv[0] for kv in (err.trailing_metadata() or ())]
            details = err.details() or ""
            named = "admission." in details or "deadline" in details
            code = err.code().name
            # The first few messages of each unexpected status, to explain it.
            if code != "RESOURCE_EXHAUSTED":
                seen = details_seen.setdefault(code, [])
                if len(seen) < 3 and details not in seen:
                    seen.append(details)
            return code, ms, "grpc-retry-pushback-ms" in md, named, t0

    say({"ready": True, "images": len(requests), "meanBytes": round(sum(len(r.items[0].images[0].data) for r in requests) / len(requests))})
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        cmd = json.loads(line)
        if cmd["phase"] == "probe":
            end = time.perf_counter() + cmd["ms"] / 1000.0
            ok_ms, statuses, nxt = [], {}, [0]

            async def worker(w):
                while time.perf_counter() < end:
                    i = flood_calls + (nxt[0] % probe_images)
                    nxt[0] += 1
                    code, ms, _, _, _ = await call(i, stubs[w % len(stubs)], None)
                    statuses[code] = statuses.get(code, 0) + 1
                    if code == "OK":
                        ok_ms.append(ms)
                    elif code == "RESOURCE_EXHAUSTED":
                        # As a well-behaved trainer does (examples/python): back off instead of spinning on refusals.
                        await asyncio.sleep(0.05)
            await asyncio.gather(*(worker(w) for w in range(cmd["concurrency"])))
            say({"okMs": ok_ms, "statuses": statuses})
        elif cmd["phase"] == "flood":
            cpu0 = time.process_time()
            # Per-call times for the timeline: epoch ms of the flood's start, then each call's start offset and latency.
            start_epoch_ms = time.time() * 1000
            start_perf = time.perf_counter()
            with_deadline = [deadline_every > 0 and i % deadline_every == 0 for i in range(flood_calls)]
            results = await asyncio.gather(*(call(i, stubs[i % connections], deadline_s if with_deadline[i] else None) for i in range(flood_calls)))
            statuses, ok_ms, late, without_hint = {}, [], 0, 0
            calls = []
            for i, (code, ms, pushback, named, t0) in enumerate(results):
                calls.append([round((t0 - start_perf) * 1000, 1), round(ms, 1), code])
                statuses[code] = statuses.get(code, 0) + 1
                if code == "OK":
                    ok_ms.append(ms)
                if with_deadline[i] and ms > deadline_s * 1000:
                    late += 1
                if code == "RESOURCE_EXHAUSTED" and not (pushback and named):
                    without_hint += 1
            say({"statuses": statuses, "okMs": ok_ms, "late": late, "deadlineCalls": sum(with_deadline), "refusedWithoutHint": without_hint, "cpuMs": round((time.process_time() - cpu0) * 1000), "startEpochMs": start_epoch_ms, "calls": calls, "details": details_seen})
        else:
            break
    for ch in channels:
        await ch.close()


asyncio.run(main())
