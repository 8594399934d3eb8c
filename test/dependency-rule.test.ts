/*
 * The dependency rule of ARCHITECTURE.md, as a check that cannot be switched off like a lint rule:
 * - plugins and the server never import the kernel (`@discordopus/core` or a path into core/);
 * - the SDK imports only its own files and its declared dependencies;
 * - third-party plugin fixtures import only what their package.json declares.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = /\.(ts|tsx|mts|cts|js|mjs|cjs|vue)$/;
// `from '...'`, `import '...'`, `import('...')`, `require('...')`, `export ... from '...'`.
const SPECIFIER = /\bfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

interface Violation {
  file: string;
  specifier: string;
  rule: string;
}

function sourceFiles(root: string): string[] {
  if (!existsSync(root)) return [];
  return (readdirSync(root, { recursive: true, encoding: 'utf8' }) as string[])
    .filter((name) => SOURCE.test(name) && !name.split(path.sep).includes('node_modules'))
    .map((name) => path.join(root, name));
}

export function importsOf(text: string): string[] {
  return [...text.matchAll(SPECIFIER)].map((m) => m[1] ?? m[2] ?? m[3] ?? m[4]!);
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

const inside = (file: string, dir: string) => !path.relative(dir, file).startsWith('..') && !path.isAbsolute(path.relative(dir, file));

/** Files under `roots` must not import the kernel. */
export function kernelImports(roots: string[], coreDir: string): Violation[] {
  const found: Violation[] = [];
  for (const file of roots.flatMap(sourceFiles)) {
    for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
      const bare = specifier === '@discordopus/core' || specifier.startsWith('@discordopus/core/');
      const relative = specifier.startsWith('.') && inside(path.resolve(path.dirname(file), specifier), coreDir);
      if (bare || relative) found.push({ file, specifier, rule: 'must not import the kernel' });
    }
  }
  return found;
}

/**
 * Files under `srcDir` may import only files under `srcDir` and the packages in `allowed`. Unit
 * tests (`*.spec.ts`) are not shipped and may use the repository's dev dependencies.
 */
export function undeclaredImports(srcDir: string, allowed: ReadonlySet<string>): Violation[] {
  const found: Violation[] = [];
  for (const file of sourceFiles(srcDir).filter((f) => !f.endsWith('.spec.ts'))) {
    for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
      if (specifier.startsWith('.') || specifier.startsWith('/')) {
        if (!inside(path.resolve(path.dirname(file), specifier), srcDir)) found.push({ file, specifier, rule: `must stay inside ${srcDir}` });
      } else if (!allowed.has(packageName(specifier))) {
        found.push({ file, specifier, rule: 'is not a declared dependency' });
      }
    }
  }
  return found;
}

function declaredDependencies(packageJson: string): Set<string> {
  const pkg = JSON.parse(readFileSync(packageJson, 'utf8')) as { dependencies?: Record<string, string>; peerDependencies?: Record<string, string> };
  return new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
}

const format = (violations: Violation[]) => violations.map((v) => `${path.relative(repo, v.file)}: "${v.specifier}" ${v.rule}`);

describe('dependency rule', () => {
  it('plugins and the server do not import @discordopus/core', () => {
    const plugins = path.join(repo, 'plugins');
    const roots = [
      ...readdirSync(plugins).map((name) => path.join(plugins, name, 'src')),
      path.join(repo, 'server/src'),
      path.join(repo, 'server/bin'),
    ];
    expect(format(kernelImports(roots, path.join(repo, 'core')))).toEqual([]);
  });

  it('the SDK imports only its own files and its declared dependencies', () => {
    expect(format(undeclaredImports(path.join(repo, 'sdk/src'), declaredDependencies(path.join(repo, 'sdk/package.json'))))).toEqual([]);
  });

  it('third-party plugin fixtures import only what their package.json declares', () => {
    const fixtures = path.join(repo, 'test/fixtures/plugins');
    for (const name of readdirSync(fixtures)) {
      const folder = path.join(fixtures, name);
      const manifest = path.join(folder, 'package.json');
      const allowed = existsSync(manifest) ? declaredDependencies(manifest) : new Set<string>();
      expect(format(undeclaredImports(folder, allowed)), name).toEqual([]);
    }
  });

  describe('the checks themselves', () => {
    const scratch = mkdtempSync(path.join(tmpdir(), 'discordopus-deprule-'));
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));
    const write = (file: string, text: string) => {
      mkdirSync(path.dirname(path.join(scratch, file)), { recursive: true });
      writeFileSync(path.join(scratch, file), text);
    };

    it('find every import form', () => {
      expect(importsOf(`import a from 'a';\nimport type { B } from "b";\nexport * from './c.ts';\nimport 'd';\nconst e = await import('e');\nrequire("f");\nimport {\n  g,\n} from 'g/sub';`))
        .toEqual(['a', 'b', './c.ts', 'd', 'e', 'f', 'g/sub']);
    });

    it('catch kernel imports, bare and relative', () => {
      write('core/src/index.ts', 'export {};');
      write('plugins/x/src/common/ok.ts', `import { definePlugin } from '@discordopus/sdk';`);
      write('plugins/x/src/node/bad.ts', `import { Kernel } from '@discordopus/core';\nimport { y } from '../../../../core/src/index.ts';\nconst z = await import('@discordopus/core/src/x.ts');`);
      const found = kernelImports([path.join(scratch, 'plugins/x/src')], path.join(scratch, 'core'));
      expect(found.map((v) => v.specifier)).toEqual(['@discordopus/core', '../../../../core/src/index.ts', '@discordopus/core/src/x.ts']);
    });

    it('catch undeclared packages and paths leaving the folder', () => {
      write('sdk/src/a.ts', `import { z } from 'zod';\nimport { b } from './b.ts';\nimport { readFileSync } from 'node:fs';\nimport { c } from '../../core/c.ts';\nimport { x } from '@scope/pkg/deep';`);
      const found = undeclaredImports(path.join(scratch, 'sdk/src'), new Set(['zod', '@scope/pkg']));
      expect(found.map((v) => v.specifier)).toEqual(['node:fs', '../../core/c.ts']);
    });
  });
});
