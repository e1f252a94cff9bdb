/** Compare traffic for the round tests: ShapesWorld pairs sent to a running server, which logs them. */
import type { RunningServer } from '../../../src/serve/server.js';
import { createRewardClient, unary, type CompareRequestMsg, type CompareResponseMsg } from '../../../src/serve/proto.js';
import { trafficPairs } from '../../../trainer/round/shapes-world.js';

/** Sends `n` pairs from `seed` as Compare calls of `perCall` pairs and waits until the server's pair log has synced all it appended. */
export async function sendTraffic(server: RunningServer, seed: number, n: number, perCall = 16): Promise<void> {
  const client = createRewardClient(`127.0.0.1:${server.port}`);
  const traffic = await trafficPairs(seed, n);
  for (let i = 0; i < traffic.length; i += perCall) {
    const pairs = traffic.slice(i, i + perCall).map(({ sample, images }) => ({
      images: images.map((data) => ({ data })), prompt: sample.prompt, responseA: sample.responses[0], responseB: sample.responses[1], id: sample.id,
    }));
    await unary<CompareRequestMsg, CompareResponseMsg>(client.compare.bind(client), { pairs });
  }
  client.close();
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    const w = server.stats().pairlog?.writer;
    if (w && w.appended > 0 && w.syncedRecords === w.appended) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('the server did not log the traffic');
}
