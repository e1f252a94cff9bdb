#!/usr/bin/env node
// The `mrm` command. The project runs its TypeScript through tsx's loader
// rather than shipping a compiled copy, so `npm ci` is the whole install.
// It runs in this process (no child): a signal sent to this PID reaches the
// server itself.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
await main(process.argv.slice(2));
