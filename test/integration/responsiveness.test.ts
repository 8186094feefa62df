// predict() runs off the JavaScript thread, and concurrent calls agree with sequential ones.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Classifier } from '../../lib/index.js';
import { golden } from '../helpers/golden.js';

const words = ['movie', 'good', 'bad', 'plot', 'acting', 'story', 'great', 'boring', 'the', 'was', 'not', 'very'];
function makeTexts(count: number, seed: number): string[] {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) % 2147483648);
  return Array.from({ length: count }, () => Array.from({ length: 5 + (next() % 120) }, () => words[next() % words.length]).join(' '));
}

describe('responsiveness and concurrency', () => {
  let clf: Classifier;
  beforeAll(async () => {
    clf = await Classifier.load(golden('small-multilabel').checkpoint, { device: 'cpu', precision: 'fp32', threads: 2 });
  });
  afterAll(() => clf.dispose());

  it('timers keep firing while a large predict runs', async () => {
    const texts = makeTexts(3000, 7);
    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(performance.now()), 5);
    const started = performance.now();
    const predictions = await clf.predict(texts, { batchSize: 64 });
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(predictions).toHaveLength(texts.length);
    // The comparison only means something if the predict took a while.
    expect(elapsed).toBeGreaterThan(100);
    const gaps = ticks.slice(1).map((t, i) => t - ticks[i]!);
    const longestGap = Math.max(...gaps, ticks.length ? ticks[0]! - started : elapsed);
    // A blocked JS thread would show one gap as long as the whole predict.
    expect(ticks.length).toBeGreaterThan(5);
    expect(longestGap).toBeLessThan(elapsed / 4);
  });

  it('8 simultaneous predict calls equal sequential results', async () => {
    const sets = Array.from({ length: 8 }, (_, i) => makeTexts(40, i + 1));
    const sequential = [];
    for (const texts of sets) sequential.push(await clf.predict(texts, { batchSize: 16 }));
    const concurrent = await Promise.all(sets.map((texts) => clf.predict(texts, { batchSize: 16 })));
    expect(concurrent).toEqual(sequential);
  });

  it('raw native forwards running at once on the worker pool equal sequential ones', async () => {
    const { addon } = await import('../helpers/addon.js');
    const handle = await addon.NativeModel.load(golden('small-multilabel').checkpoint, { device: 'cpu', precision: 'fp32', threads: 1 });
    const batches = Array.from({ length: 8 }, (_, i) => clf.encode(makeTexts(16, 100 + i)));
    const run = (b: (typeof batches)[number]) => handle.forward(b.inputIds, b.attentionMask, b.batchSize, b.seqLen);
    const sequential = [];
    for (const b of batches) sequential.push((await run(b)).logits);
    const concurrent = (await Promise.all(batches.map(run))).map((o) => o.logits);
    expect(concurrent).toEqual(sequential);
    handle.dispose();
  });

  it('a text gets the same scores whatever batch it lands in', async () => {
    const texts = makeTexts(50, 99);
    const together = await clf.predict(texts, { batchSize: 50 });
    const alone = await Promise.all(texts.slice(0, 5).map((t) => clf.predict([t])));
    alone.forEach(([p], i) => {
      for (const label of clf.labels) expect(p!.scores[label]).toBeCloseTo(together[i]!.scores[label]!, 5);
    });
  });
});
