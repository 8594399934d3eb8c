#!/usr/bin/env node
// Builds the bins' start-up bundles ahead of time (`npm run build:bins`), e.g. before a test run
// that starts many CLI processes at once. Optional: each bin builds its own bundle when needed.
import { ensureBundle } from './bin-bundle.js';
import { binSpecs } from './bin-specs.js';

for (const [name, spec] of Object.entries(binSpecs)) {
  const file = await ensureBundle(spec);
  console.log(`${name}: ${file}`);
}
