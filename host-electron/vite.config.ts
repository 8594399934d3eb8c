import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

const here = fileURLToPath(new URL('.', import.meta.url));

// The renderer build: relative asset paths so the same files load from the web host and from
// Electron's file:// URL.
export default defineConfig({
  root: `${here}src/renderer`,
  base: './',
  plugins: [vue()],
  build: {
    outDir: `${here}dist/renderer`,
    emptyOutDir: true,
    sourcemap: false,
    // Inline scripts would need 'unsafe-inline' in the CSP.
    modulePreload: { polyfill: false },
  },
  logLevel: 'warn',
});
