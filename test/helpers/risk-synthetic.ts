// Synthetic risk data over the tiny fixture vocabulary, for the features and
// ordinal learning tests. Labels are simple functions of text and attributes.
import type { Example } from '../../lib/index.js';
import { random } from './synthetic.js';

const POSITIVE = ['good', 'great', 'love', 'best', 'fun', 'funny'];
const NEGATIVE = ['bad', 'hate', 'worst', 'boring'];
const pick = <T>(r: (n: number) => number, list: readonly T[]): T => list[r(list.length)]!;

/**
 * 'risky' when (the text is negative and amount >= 100) or the channel is 'sms'; amount is
 * uniform in [0, 200) and missing (null) one time in ten, which counts as not high. Text alone
 * can reach about 2/3 accuracy (negative texts are risky 2/3 of the time, positive ones 1/3);
 * text with the features can reach 1.
 */
export function fusedExamples(n: number, seed: number): Example[] {
  const r = random(seed);
  return Array.from({ length: n }, () => {
    const negative = r(2) === 0;
    const amount = r(10) === 0 ? null : r(200);
    const channel = pick(r, ['web', 'app', 'sms']);
    const risky = (negative && amount !== null && amount >= 100) || channel === 'sms';
    return { text: `the movie was ${pick(r, negative ? NEGATIVE : POSITIVE)}`, label: risky ? 'risky' : 'safe', features: { amount, channel } };
  });
}

export const SEVERITIES = ['none', 'low', 'medium', 'high'];

/**
 * Severity = the number of negative words among three, moved one class up or down one time in
 * five (label noise that respects the order).
 */
export function severityExamples(n: number, seed: number): Example[] {
  const r = random(seed);
  return Array.from({ length: n }, () => {
    const negatives = [0, 1, 2].map(() => r(2) === 0);
    let c = negatives.filter(Boolean).length;
    const noise = r(10);
    if (noise === 0) c = Math.max(0, c - 1);
    else if (noise === 1) c = Math.min(3, c + 1);
    return { text: `it was ${negatives.map((neg) => pick(r, neg ? NEGATIVE : POSITIVE)).join(' , ')}`, label: SEVERITIES[c]! };
  });
}

export const withoutFeatures = (examples: Example[]): Example[] => examples.map(({ features: _features, ...e }) => e);
