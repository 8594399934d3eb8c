import { defineConfig } from 'vitest/config';

// One run for the whole repository: unit specs next to the code, scenarios under test/.
export default defineConfig({
  test: {
    include: ['{sdk,core,server,plugins/*,host-electron}/src/**/*.spec.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    // Native modules (SQLite, werift sockets) are safest in child processes.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
