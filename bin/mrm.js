#!/usr/bin/env node
// The `mrm` command. The project runs its TypeScript through tsx's loader
// rather than shipping a compiled copy, so `npm ci` is the whole install.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
