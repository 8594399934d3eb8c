#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: the server ships without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
