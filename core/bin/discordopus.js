#!/usr/bin/env node
// Starts the CLI from a cached esbuild bundle of its TypeScript sources, rebuilt whenever a source
// changes, or through tsx when that is impossible (scripts/bin-bundle.js; docs/cli.md, "Start-up").
import { importBin } from '../../scripts/bin-bundle.js';
import { binSpecs } from '../../scripts/bin-specs.js';

const { main } = await importBin(binSpecs.discordopus);
await main(process.argv);
