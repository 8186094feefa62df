// Small synthetic datasets over the tiny fixture vocabulary, one per task.
// The label is a simple function of the words, so a model that learns
// anything beats chance by a wide margin.
import type { Example } from '../../lib/index.js';

const POSITIVE = ['good', 'great', 'love', 'best', 'fun', 'funny'];
const NEGATIVE = ['bad', 'hate', 'worst', 'boring'];
const TOPICS: Record<string, string[]> = { cinema: ['movie', 'film'], writing: ['plot', 'story'], performance: ['acting', 'actor'] };

/** Deterministic pseudo-random integers (an LCG's high bits). */
export function random(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s >>> 8) % n;
  };
}

function pick<T>(r: (n: number) => number, list: readonly T[]): T {
  return list[r(list.length)]!;
}

export function binaryExamples(n: number, seed: number): Example[] {
  const r = random(seed);
  return Array.from({ length: n }, () => {
    const positive = r(2) === 0;
    const word = pick(r, positive ? POSITIVE : NEGATIVE);
    const topic = pick(r, Object.values(TOPICS).flat());
    return { text: `the ${topic} was ${word} , it is ${word}`, label: positive ? 'positive' : 'negative' };
  });
}

export function multiClassExamples(n: number, seed: number): Example[] {
  const r = random(seed);
  const names = Object.keys(TOPICS);
  return Array.from({ length: n }, () => {
    const label = pick(r, names);
    const word = pick(r, [...POSITIVE, ...NEGATIVE]);
    return { text: `this ${pick(r, TOPICS[label]!)} was ${word}`, label };
  });
}

export function multiLabelExamples(n: number, seed: number): Example[] {
  const r = random(seed);
  return Array.from({ length: n }, () => {
    const labels: string[] = [];
    const words: string[] = [];
    if (r(2)) (labels.push('praise'), words.push(pick(r, POSITIVE)));
    if (r(2)) (labels.push('complaint'), words.push(pick(r, NEGATIVE)));
    if (r(2)) (labels.push('about-plot'), words.push('plot'));
    if (words.length === 0) words.push('it');
    return { text: `the ${words.join(' and the ')} was there`, label: labels };
  });
}

export function regressionExamples(n: number, seed: number): Example[] {
  const r = random(seed);
  return Array.from({ length: n }, () => {
    const good = r(4);
    const words = [...Array.from({ length: good }, () => pick(r, POSITIVE)), ...Array.from({ length: 3 - good }, () => pick(r, NEGATIVE))];
    return { text: `it was ${words.join(' , ')}`, label: good / 3 };
  });
}
