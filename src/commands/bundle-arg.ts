/** A bundle directory given on the command line (--model, --base), checked before loading. */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE } from '../model/manifest.js';
import { UsageError } from './args.js';

export async function checkBundleDir(flag: string, dir: string): Promise<void> {
  const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
  const hasManifest = isDir && (await stat(join(dir, MANIFEST_FILE)).then((s) => s.isFile(), () => false));
  if (hasManifest) return;
  const what = isDir ? `no ${MANIFEST_FILE} in ${dir}` : `no such directory`;
  throw new UsageError(`--${flag} ${dir}: not a bundle (${what}); give a bundle directory such as models/shapes-mrm or one written by mrm fit --out`);
}
