import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const kernelOnly = {
  group: ['@discordopus/core', '@discordopus/core/*'],
  message: 'Plugins talk to the kernel through @discordopus/sdk only (ARCHITECTURE.md, dependency rule).',
};

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '**/.tmp/**', 'artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['plugins/**/*.ts', 'server/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [kernelOnly] }] },
  },
  {
    // common/ is pure TypeScript that runs anywhere: no Node built-ins.
    files: ['**/src/common/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*'], message: 'src/common must run in any runtime; put Node code under src/node.' }, kernelOnly] }],
    },
  },
  {
    // The renderer runs in a sandboxed page: no Node built-ins, no kernel (it talks to the host over the bridge).
    files: ['host-electron/src/renderer/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['node:*'], message: 'The renderer has no Node; ask the host through the BridgeClient.' },
        { group: ['@discordopus/core', '@discordopus/core/*', '**/node/**', '**/electron/**'], message: 'The renderer reaches the kernel only through the BridgeClient.' },
      ] }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
