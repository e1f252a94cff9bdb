/**
 * What the app needs at run time, read from the source: the module graph
 * from bin/mrm.js (static and dynamic imports, require, worker and asset URLs
 * relative to import.meta.url), as repository paths and package names. The
 * image check compares it with the Dockerfile's COPY lines and package.json's
 * dependencies, so a new top-level folder or a dev-only import at run time
 * fails a test instead of the first container start.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, relative, resolve } from 'node:path';

export interface RuntimeGraph {
  /** Repository-relative paths of every module file and asset directory reached. */
  paths: Set<string>;
  /** Bare package names imported at run time (type-only imports excluded). */
  packages: Set<string>;
}

const SPECIFIERS = [
  // import x from '...', import { a, type B } from '...', export * from '...'; not `import type`.
  /\b(?:import|export)\s+(?!type\s)[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/g,
  /^\s*import\s*['"]([^'"]+)['"]/gm, // side effects only (a statement of its own, not the word in a string)
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\brequire(?:\.resolve)?\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\.resolve\(\s*['"]([^'"]+)['"]\s*\)/g,
  /new URL\(\s*['"](\.{1,2}\/[^'"]*)['"]\s*,\s*import\.meta\.url\s*\)/g,
];

const BUILTINS = new Set(builtinModules);

export function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** A relative specifier as the ESM loader (with tsx) finds it: `x.js` may be `x.ts`. */
function resolveFile(from: string, spec: string): string {
  const p = resolve(dirname(from), spec);
  if (spec.endsWith('/')) {
    if (!existsSync(p) || !statSync(p).isDirectory()) throw new Error(`${from}: ${spec} is not a directory`);
    return p;
  }
  for (const candidate of [p, p.replace(/\.js$/, '.ts'), p.replace(/\.mjs$/, '.mts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  throw new Error(`${from}: cannot resolve ${spec}`);
}

export function runtimeGraph(root: string, entry: string): RuntimeGraph {
  const paths = new Set<string>();
  const packages = new Set<string>();
  const todo = [resolve(root, entry)];
  const seen = new Set<string>();
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    paths.add(relative(root, file));
    if (statSync(file).isDirectory() || !/\.(m?[jt]s)$/.test(file)) continue;
    const text = readFileSync(file, 'utf8');
    for (const re of SPECIFIERS) {
      for (const m of text.matchAll(re)) {
        const spec = m[1]!;
        if (spec.startsWith('.')) todo.push(resolveFile(file, spec));
        else if (!spec.startsWith('node:') && !BUILTINS.has(packageName(spec))) packages.add(packageName(spec));
      }
    }
  }
  return { paths, packages };
}

