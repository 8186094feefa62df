// initModel writes a checkpoint that loads and trains like a published one:
// the same tensor names as the tiny fixture, a vocabulary without [UNK] for the
// texts it was built from, and byte-identical files for the same seed.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { Classifier, TextTokenizer, Trainer, readSafetensors } from '../../lib/index.js';
import { initModel } from '../../lib/init-model.js';
import { golden } from '../helpers/golden.js';
import { binaryExamples } from '../helpers/synthetic.js';

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `lora-node-${name}-`));

describe('initModel', () => {
  const train = binaryExamples(160, 11);
  const texts = [...train.map((e) => e.text), 'Un texte accentué, avec des mots jamais vus !'];

  it('writes a DistilBertForSequenceClassification checkpoint with the fixture tensor names', async () => {
    const dir = tmp('init');
    const result = await initModel(dir, { texts, labels: ['negative', 'positive'], dim: 32, hidden: 64, seed: 3 });
    const written = await readSafetensors(join(dir, 'model.safetensors'));
    const fixture = await readSafetensors(join(golden('tiny').checkpoint, 'model.safetensors'));
    expect(Object.keys(written.tensors).sort()).toEqual(Object.keys(fixture.tensors).sort());
    for (const [name, t] of Object.entries(fixture.tensors)) {
      if (name.startsWith('classifier.')) continue; // 3 labels there, 2 here
      if (name.includes('word_embeddings')) continue; // another vocabulary
      expect(written.tensors[name]!.shape, name).toEqual(t.shape);
    }
    expect(written.tensors['classifier.weight']!.shape).toEqual([2, 32]);
    expect(written.tensors['distilbert.embeddings.word_embeddings.weight']!.shape).toEqual([result.vocabSize, 32]);
    expect(written.metadata).toEqual({ format: 'pt' });
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config.vocab_size).toBe(result.vocabSize);
    expect(config.id2label).toEqual({ 0: 'negative', 1: 'positive' });
    expect(JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'))).toMatchObject({ do_lower_case: true, model_max_length: 512 });

    const tokenizer = await TextTokenizer.fromDirectory(dir);
    for (const text of texts) expect(tokenizer.encode(text).ids, text).not.toContain(1); // [UNK]
    expect(tokenizer.vocabSize).toBe(result.vocabSize);
  });

  it('is byte-identical for the same seed', async () => {
    const [a, b] = [tmp('init-a'), tmp('init-b')];
    await initModel(a, { texts, labels: ['x', 'y', 'z'], seed: 5 });
    await initModel(b, { texts, labels: ['x', 'y', 'z'], seed: 5 });
    for (const file of ['model.safetensors', 'config.json', 'vocab.txt', 'tokenizer_config.json'])
      expect(readFileSync(join(a, file)).equals(readFileSync(join(b, file))), file).toBe(true);
  });

  it('loads with Classifier and trains with Trainer (LoRA) past chance', async () => {
    const dir = tmp('init-train');
    await initModel(dir, { texts: train.map((e) => e.text), labels: ['negative', 'positive'], seed: 1 });
    using clf = await Classifier.load(dir, { device: 'cpu', precision: 'fp32' });
    expect(clf.task).toBe('binary');
    expect(clf.labels).toEqual(['negative', 'positive']);
    expect(await clf.predict(['the movie was good'])).toHaveLength(1);

    using trainer = new Trainer({
      model: dir, epochs: 4, batchSize: 16, learningRate: 3e-3, device: 'cpu', precision: 'fp32', threads: 2, seed: 1,
      lora: { r: 8, alpha: 16, targetModules: 'all-linear' },
    });
    const result = await trainer.train(train, { evalExamples: binaryExamples(80, 12) });
    expect(result.headNotice).toBeUndefined(); // the head initModel wrote fits the labels
    expect((result.finalEvaluation as { accuracy: number }).accuracy).toBeGreaterThanOrEqual(0.8);
  });
});
