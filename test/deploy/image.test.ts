/**
 * deploy/Dockerfile against the rest of the repository: it runs the commands
 * the READMEs and package.json give, installs what the allowScripts policy
 * allows, and copies every path the app reads at run time.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/serve/config.js';
import { type Instruction, parseDockerfile, runCommands } from './dockerfile.js';
import { runtimeGraph } from './runtime-graph.js';
import { DEPLOY, exampleConfig, ROOT } from './tree.js';

const dockerfile = parseDockerfile(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8'));
const finalStage = Math.max(...dockerfile.map((i) => i.stage));
const final = (op: string) => dockerfile.filter((i) => i.stage === finalStage && i.op === op);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const normalize = (s: string) => s.trim().replace(/\s+/g, ' ');

/** The command lines of a Markdown file's sh code blocks (trailing `&` dropped). */
function shellLines(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n'))
    .map((l) => normalize(l.replace(/\s#.*$/, '').replace(/&$/, '')))
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** COPY sources of the final stage from the build context (not --from another stage). */
function contextCopies(): string[] {
  return final('COPY').filter((i) => !/--from=/.test(i.raw)).flatMap((i: Instruction) => {
    const words = i.exec ?? i.raw.split(/\s+/).filter((w) => !w.startsWith('--'));
    return words.slice(0, -1).map((w) => w.replace(/^\.\//, '').replace(/\/$/, ''));
  });
}

describe('deploy/Dockerfile', () => {
  it('is multi-stage and runs as a numeric non-root user', () => {
    expect(dockerfile.filter((i) => i.op === 'FROM').length).toBeGreaterThanOrEqual(2);
    const user = final('USER').at(-1)?.raw ?? '';
    expect(user).toMatch(/^\d+:\d+$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
  });

  it('installs production dependencies with npm ci in a build stage and copies them over', () => {
    const installs = dockerfile.filter((i) => i.op === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.raw));
    expect(installs).toHaveLength(1);
    expect(installs[0]!.stage).toBeLessThan(finalStage);
    const install = normalize(installs[0]!.raw).split(' ');
    expect(install.slice(0, 2)).toEqual(['npm', 'ci']);
    expect(install).toContain('--omit=dev');
    expect(final('COPY').some((i) => /--from=\S+/.test(i.raw) && /node_modules/.test(i.raw))).toBe(true);
  });

  it('blocks the install scripts exactly as package.json allowScripts does', () => {
    // --ignore-scripts (for the npm 10 in node:20 images) equals allowScripts only while it allows nothing.
    expect(runCommands(dockerfile).find((c) => c.startsWith('npm ci'))).toContain('--ignore-scripts');
    expect(Object.values(pkg.allowScripts as Record<string, boolean>).every((v) => v === false)).toBe(true);
    // And allowScripts names every installed package (nested ones too) that has an install script.
    const withScripts = new Set<string>();
    const scan = (nm: string) => {
      for (const entry of readdirSync(nm)) {
        const dirs = entry.startsWith('@') ? readdirSync(join(nm, entry)).map((d) => join(nm, entry, d)) : [join(nm, entry)];
        for (const d of dirs) {
          const f = join(d, 'package.json');
          if (!existsSync(f)) continue;
          const p = JSON.parse(readFileSync(f, 'utf8'));
          if (p.scripts?.preinstall || p.scripts?.install || p.scripts?.postinstall) withScripts.add(p.name);
          if (existsSync(join(d, 'node_modules'))) scan(join(d, 'node_modules'));
        }
      }
    };
    scan(join(ROOT, 'node_modules'));
    expect(withScripts.size).toBeGreaterThan(0);
    expect(Object.keys(pkg.allowScripts)).toEqual(expect.arrayContaining([...withScripts]));
  });

  it("starts what `npm start` starts, which is the README's start command", () => {
    const cmd = final('CMD').at(-1)!.exec!;
    // `exec` only makes npm's shell become the server (so a signal to npm's child reaches it); the image runs the command itself.
    expect(cmd.join(' ')).toBe(pkg.scripts.start.replace(/^exec /, ''));
    expect(shellLines(join(ROOT, 'README.md'))).toContain('npm ci && npm start');
  });

  it("runs only npm and node commands that deploy/README.md's recipes use", () => {
    const readme = shellLines(join(DEPLOY, 'README.md'));
    const commands = [...runCommands(dockerfile), final('CMD').at(-1)!.exec!.join(' ')].filter((c) => /^(npm|node) /.test(c));
    expect(commands.length).toBeGreaterThanOrEqual(3);
    for (const c of commands) expect(readme, c).toContain(c);
    expect(readme).toContain('docker build -f deploy/Dockerfile -t mrm-serve:0.1.0 .');
  });

  it('copies every path the app reads at run time, and only paths that exist', () => {
    const copies = contextCopies();
    for (const c of copies) expect(existsSync(join(ROOT, c)), c).toBe(true);
    const covered = (p: string) => copies.some((c) => p === c || p.startsWith(`${c}/`));
    const graph = runtimeGraph(ROOT, pkg.bin.mrm);
    // The module graph reaches the server, the CLI's commands and the trainer they load.
    for (const must of ['src/serve/server.ts', 'src/serve/model-worker.ts', 'trainer/fit/fit-bundle.ts', 'proto']) expect(graph.paths).toContain(must);
    const needed = [
      ...graph.paths,
      DEFAULTS.seedBundle, // the default model, read from the config
      'package.json', // "type": "module" and the bin entry
      'tsconfig.json', // tsx compiles with it
    ];
    const missing = needed.filter((p) => !covered(p));
    expect(missing).toEqual([]);
  });

  it('has every package imported at run time in dependencies, not devDependencies', () => {
    const graph = runtimeGraph(ROOT, pkg.bin.mrm);
    expect(graph.packages).toContain('tsx');
    const devOnly = [...graph.packages].filter((p) => !(p in pkg.dependencies));
    expect(devOnly).toEqual([]);
  });

  it('exposes the ports of the example config', () => {
    const c = exampleConfig();
    const exposed = final('EXPOSE').flatMap((i) => i.raw.split(/\s+/).map(Number));
    expect(exposed.sort()).toEqual([c.port, c.admin.port, c.telemetry.prometheusPort].sort());
  });

  it('keeps node_modules, state and secrets out of the build context but not what it copies', () => {
    const ignored = readFileSync(join(DEPLOY, 'Dockerfile.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'var', 'deploy/secrets']));
    for (const c of contextCopies()) expect(ignored, c).not.toContain(c);
  });
});
