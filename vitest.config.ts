import { defineConfig } from 'vitest/config';
import vue from '@vitejs/plugin-vue';

// One run for the whole repository: unit specs next to the code, scenarios under test/.
export default defineConfig({
  // Compiles the desktop renderer's .vue components for their component specs.
  plugins: [vue()],
  test: {
    include: ['{sdk,core,server,plugins/*,host-electron}/src/**/*.spec.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    // Native modules (SQLite, werift sockets) are safest in child processes.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['./test/support/build-renderer.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
