/** npm run build:model: rebuild the shipped default bundle in models/shapes-mrm. */
import { rm } from 'node:fs/promises';
import { formatReport } from '../trainer/eval/metrics.js';
import { buildDefaultModel } from '../trainer/shapesnet/build-default.js';

const out = process.argv[2] ?? 'models/shapes-mrm';
await rm(out, { recursive: true, force: true });
const r = await buildDefaultModel(out);
if (r.heldOut) console.log(formatReport(r.heldOut, `held-out (${out})`));
console.log(JSON.stringify({ out, version: r.manifest.version, calibration: r.manifest.calibration, seconds: r.seconds }, null, 2));
