// Writable copies of fixture checkpoints, for tests that break them on purpose.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { golden } from './golden.js';

export function copyCheckpoint(set: 'tiny' | 'small-multilabel' | 'real-vocab' = 'tiny'): string {
  const dir = mkdtempSync(join(tmpdir(), `lora-node-${set}-`));
  cpSync(golden(set).checkpoint, dir, { recursive: true });
  return dir;
}

export function editConfig(dir: string, edit: (config: Record<string, unknown>) => void): void {
  const file = join(dir, 'config.json');
  const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(config);
  writeFileSync(file, JSON.stringify(config, null, 2));
}
