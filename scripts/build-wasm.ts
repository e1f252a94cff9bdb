/**
 * npm run build:wasm [-- --check]
 *
 * Assembles src/model/png/kernels.wat into kernels.wasm next to it, which is
 * committed: the server loads the binary and never needs wabt (a
 * devDependency). --check assembles in memory and exits 1 if the committed
 * binary differs (the test suite does the same through assembleKernels).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

export const WAT_FILE = fileURLToPath(new URL('../src/model/png/kernels.wat', import.meta.url));
export const WASM_FILE = fileURLToPath(new URL('../src/model/png/kernels.wasm', import.meta.url));

type Wabt = {
  parseWat(filename: string, text: string, features?: Record<string, boolean>): {
    resolveNames(): void;
    validate(): void;
    toBinary(options: Record<string, boolean>): { buffer: Uint8Array };
    destroy(): void;
  };
};

/** The binary a fresh assembly of kernels.wat gives (no names section, so it depends on the text alone). */
export async function assembleKernels(): Promise<Uint8Array> {
  const wabt = await (createRequire(import.meta.url)('wabt') as () => Promise<Wabt>)();
  const mod = wabt.parseWat('kernels.wat', await readFile(WAT_FILE, 'utf8'), { simd: true });
  try {
    mod.resolveNames();
    mod.validate();
    return mod.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    mod.destroy();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const fresh = await assembleKernels();
  if (process.argv.includes('--check')) {
    const committed = await readFile(WASM_FILE).catch(() => Buffer.alloc(0));
    if (!Buffer.from(fresh).equals(committed)) {
      console.error(`${WASM_FILE} differs from a fresh assembly of ${WAT_FILE}: run npm run build:wasm`);
      process.exit(1);
    }
    console.log('kernels.wasm matches kernels.wat');
  } else {
    await writeFile(WASM_FILE, fresh);
    console.log(`wrote ${WASM_FILE} (${fresh.length} bytes)`);
  }
}
