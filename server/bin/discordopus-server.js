#!/usr/bin/env node
// Starts the server from a cached esbuild bundle of its TypeScript sources, rebuilt whenever a
// source changes, or through tsx when that is impossible (scripts/bin-bundle.js; docs/cli.md).
import { importBin } from '../../scripts/bin-bundle.js';
import { binSpecs } from '../../scripts/bin-specs.js';

await importBin(binSpecs['discordopus-server']);
