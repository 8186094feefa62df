// The README's runnable examples (its ```js blocks) run as a user would run them: saved
// as a module in an empty folder where `lora-node` resolves to this package, run with node.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const blocks = [...README.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

describe('README runnable examples', () => {
  it('has some', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
  });

  it.each(blocks.map((code, i) => [i + 1, code.split('\n').find((l) => l.startsWith('//')) ?? code.split('\n')[0], code]))(
    'example %i (%s) runs to the end',
    (_, __, code) => {
      const dir = mkdtempSync(join(tmpdir(), 'lora-node-readme-'));
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(ROOT, join(dir, 'node_modules', 'lora-node'), 'dir');
      writeFileSync(join(dir, 'example.mjs'), `${code}\nconsole.log('EXAMPLE DONE');\n`);
      const r = spawnSync(process.execPath, ['example.mjs'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/EXAMPLE DONE\n$/);
    },
    120_000,
  );
});
