/**
 * `--help` of every command says the truth: each flag it lists exists and
 * each flag that exists is listed. Commands come from src/cli.ts's COMMANDS;
 * a command's real flags from args.parse (MRM_HELP_SPEC makes `--help` write
 * them). A command with subcommands lists them in its usage lines as
 * `mrm <command> <sub>` (or `mrm <command> a|b|c`); each is checked the same way.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELP_SPEC_ENV } from '../../src/commands/args.js';
import { COMMANDS } from '../../src/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let dir: string;
let n = 0;

beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'mrm-help-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

/** `mrm <words> --help`: its output and the options its parser really has. */
async function help(words: string[]): Promise<{ text: string; options: string[] }> {
  const spec = join(dir, `spec-${n++}.json`);
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['bin/mrm.js', ...words, '--help'], { cwd: ROOT, env: { ...process.env, [HELP_SPEC_ENV]: spec } },
      (err, out, errOut) => (err ? reject(new Error(`mrm ${words.join(' ')} --help failed: ${errOut}`)) : resolve(out)));
  });
  const parsed = JSON.parse(await readFile(spec, 'utf8').catch(() => {
    throw new Error(`mrm ${words.join(' ')} --help did not go through args.parse (no ${HELP_SPEC_ENV} file)`);
  })) as { options: string[]; help: string };
  expect(stdout.trim()).toBe(parsed.help.trim());
  return { text: parsed.help, options: parsed.options };
}

function subcommands(text: string, command: string): string[] {
  const re = new RegExp(`(?:^|\\s)mrm ${command} ([a-z][a-z0-9-]*(?:\\|[a-z][a-z0-9-]*)*)(?=\\s|$)`, 'gm');
  return [...new Set([...text.matchAll(re)].flatMap((m) => m[1]!.split('|')))];
}

const listedFlags = (text: string) => new Set([...text.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!));

/** A flag's entry: its `  --flag` line and the more-indented lines under it. */
function entries(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (/^\s+--[a-z]/.test(line)) out.push(line);
    else if (out.length && /^\s{6,}\S/.test(line) && !/^\s+-/.test(line)) out[out.length - 1] += `\n${line}`;
    else if (!/^\s{6,}/.test(line)) out.push('');
  }
  return out.filter(Boolean);
}

// Two short-lived processes per command; one can take 20 s to start on a shared 2-core machine.
describe('mrm --help of every command', { timeout: 150_000 }, () => {
  for (const name of Object.keys(COMMANDS)) {
    it(`mrm ${name}: every listed flag exists and every flag is listed`, async () => {
      const top = await help([name]);
      const subs = subcommands(top.text, name);
      const targets = subs.length > 0 ? subs.map((s) => [name, s]) : [[name]];
      for (const words of targets) {
        const { text, options } = subs.length > 0 ? await help(words) : top;
        const listed = listedFlags(text);
        const real = new Set(options);
        expect([...listed].filter((f) => !real.has(f)), `mrm ${words.join(' ')} --help lists flags it does not have`).toEqual([]);
        expect(options.filter((f) => !listed.has(f)), `mrm ${words.join(' ')} has flags its --help does not list`).toEqual(['help']);
        for (const e of entries(text)) {
          expect((e.match(/\(/g) ?? []).length, `unbalanced parentheses in:\n${e}`).toBe((e.match(/\)/g) ?? []).length);
          expect((e.match(/\(default/g) ?? []).length, `two defaults in:\n${e}`).toBeLessThanOrEqual(1);
        }
      }
    });
  }

  it('finds subcommands in usage lines', () => {
    expect(subcommands('usage: mrm data gen --seed S\n       mrm data convert --in DIR', 'data')).toEqual(['gen', 'convert']);
    expect(subcommands('usage: mrm models list|show|activate [--x]', 'models')).toEqual(['list', 'show', 'activate']);
    expect(subcommands('usage: mrm eval [--model DIR] (--data DIR | --seed S)', 'eval')).toEqual([]);
  });
});

describe('mrm serve --help', () => {
  it('gives every config key in all three spellings: flag, JSON key, environment variable', async () => {
    const { CONFIG_KEYS, envName, flagName } = await import('../../src/serve/config.js');
    const { text } = await help(['serve']);
    for (const k of CONFIG_KEYS) {
      const entry = entries(text).find((e) => e.trimStart().startsWith(`--${flagName(k)} `));
      expect(entry, `--${flagName(k)}`).toBeDefined();
      expect(entry).toContain(`JSON ${k}, env ${envName(k)}`);
    }
  });
});
