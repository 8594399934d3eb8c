#!/usr/bin/env node
// Runs the CLI from its TypeScript source: tsx compiles on the fly, with the repository's
// tsconfig so decorators (inversify) compile the same way as in tests, whatever the cwd.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

const tsconfig = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../tsconfig.json');
register(existsSync(tsconfig) ? { tsconfig } : {});
const { main } = await import('../src/node/cli/main.ts');
await main(process.argv);
