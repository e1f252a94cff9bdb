/**
 * Opens a round report in headless Chromium (apt's `chromium`) as a person
 * would, and fails unless every plot shows and the page fetched nothing.
 *
 *   npm run check:report -- var/rounds/<id>/report.html [--out DIR]
 *
 * - Every plot: each <figure id="plot-..."> is cut out of the page into a
 *   page of its own and screenshotted; a plot passes when its picture has
 *   enough coloured (non-grey) pixels, i.e. it drew marks, not only axes.
 * - No network: Chromium runs with a proxy that is a local socket counting
 *   connections; any request the page makes would reach it.
 * - A full-page screenshot is left in --out for a person to look at.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';

const run = promisify(execFile);
const args = process.argv.slice(2);
const html = args.find((a) => !a.startsWith('--'));
const outIdx = args.indexOf('--out');
if (!html) {
  console.error('usage: npm run check:report -- REPORT.html [--out DIR]');
  process.exit(2);
}
const out = outIdx >= 0 ? args[outIdx + 1]! : await mkdtemp(join(tmpdir(), 'mrm-report-check-'));
await mkdir(out, { recursive: true });

// Chromium's own background traffic also reaches the proxy; only requests
// whose first line names what the page could load count (file pages fetch
// nothing else by themselves).
const requests: string[] = [];
const proxy = createServer((s) => {
  s.once('data', (buf) => {
    requests.push(buf.toString('latin1').split('\r\n')[0]!);
    s.destroy();
  });
});
await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
const proxyPort = (proxy.address() as { port: number }).port;

async function screenshot(file: string, png: string, size: string): Promise<void> {
  const profile = await mkdtemp(join(tmpdir(), 'mrm-chromium-'));
  await run('chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${profile}`, `--proxy-server=http://127.0.0.1:${proxyPort}`, '--proxy-bypass-list=<-loopback>',
    '--hide-scrollbars', `--window-size=${size}`, `--screenshot=${png}`, `file://${resolve(file)}`,
  ], { timeout: 60_000 });
}

/** Pixels that are clearly coloured: marks are blue/grey-blue; axes, text and background are grey or white. */
async function colouredPixels(png: string): Promise<number> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  let n = 0;
  for (let i = 0; i < data.length; i += info.channels) {
    const r = data[i]!, g = data[i + 1]!, b = data[i + 2]!;
    if (Math.max(r, g, b) - Math.min(r, g, b) > 40) n++;
  }
  return n;
}

const page = await readFile(html, 'utf8');
const head = page.slice(0, page.indexOf('<body>'));
const figures = [...page.matchAll(/<figure id="plot-([a-z]+)"[^>]*>[\s\S]*?<\/figure>/g)];
const rows: { plot: string; coloured: number; ok: boolean }[] = [];
for (const [fig, id] of figures) {
  const file = join(out, `plot-${id}.html`);
  await writeFile(file, `${head}<body style="margin:0">${fig}</body></html>`);
  const png = join(out, `plot-${id}.png`);
  await screenshot(file, png, '520,420');
  const coloured = await colouredPixels(png);
  rows.push({ plot: id!, coloured, ok: coloured >= 200 });
}
const full = join(out, 'report.png');
await screenshot(html, full, '1200,2000');
proxy.close();

for (const r of rows) console.log(`${r.plot.padEnd(12)} ${String(r.coloured).padStart(7)} coloured px  ${r.ok ? 'ok' : 'MISSING'}`);
// Chromium's own services (updates, time, accounts) call Google hosts whatever the page is.
const browserOwn = /^(CONNECT |[A-Z]+ http:\/\/)[a-z0-9.-]*\b(google\.com|googleapis\.com|gvt1\.com|gstatic\.com)[:/]/;
const pageRequests = requests.filter((r) => r && !browserOwn.test(r));
console.log(`requests by the page: ${pageRequests.length} (browser's own, dropped: ${requests.length - pageRequests.length})`);
for (const r of pageRequests) console.log(`  ${r}`);
console.log(`screenshots: ${out}`);
const failed = rows.length === 0 || rows.some((r) => !r.ok) || pageRequests.length > 0;
if (rows.length === 0) console.error('no plots found in the page');
process.exit(failed ? 1 : 0);
