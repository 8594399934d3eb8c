// The TypeScript entry and bundle cache of each bin (core/bin, server/bin; scripts/build-bins.js).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsconfig = path.join(repoRoot, 'tsconfig.json');

/** Bundles live under each package's node_modules (gitignored, wiped by `npm ci`). */
export const binSpecs = {
  discordopus: {
    entry: path.join(repoRoot, 'core/src/node/cli/main.ts'),
    cacheDir: path.join(repoRoot, 'core/node_modules/.cache/discordopus-bin/discordopus'),
    tsconfig,
  },
  'discordopus-server': {
    entry: path.join(repoRoot, 'server/src/cli.ts'),
    cacheDir: path.join(repoRoot, 'server/node_modules/.cache/discordopus-bin/discordopus-server'),
    tsconfig,
  },
};
