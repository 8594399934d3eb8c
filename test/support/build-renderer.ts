import { ensureRendererBuilt } from '../../host-electron/src/node/renderer-build.ts';

/**
 * Vitest global setup: builds the desktop renderer once, before any test file starts a web host.
 * Otherwise the first hosts of parallel test files each find the build missing (a fresh clone)
 * and build it at the same time, and one swaps the folder while another's page is loading.
 */
export default async function setup(): Promise<void> {
  await ensureRendererBuilt({ log: (line) => console.log(line) });
}
