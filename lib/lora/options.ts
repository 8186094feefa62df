// LoRA options with PEFT's LoraConfig semantics, resolved against the model's
// linear module names into the explicit per-module spec the native core takes.
import { expected } from '../errors.js';
import type { NativeLoraModule, NativeLoraSpec } from '../native/types.js';
import { isPlainObject } from '../validate.js';

export interface LoraOptions {
  /** Rank. Default 8. */
  r?: number;
  /** Scaling numerator: scale = alpha / r (or alpha / √r with useRslora). Default 8. */
  alpha?: number;
  /** Dropout on the LoRA branch's input. Default 0. */
  dropout?: number;
  /**
   * Which linears to adapt: a list of exact module names or name suffixes (PEFT: `key == t` or
   * `key.endsWith('.' + t)`), a regular expression matched against the whole module name
   * (PEFT: `re.fullmatch`), or 'all-linear' (every transformer-block linear). Default ['q_lin', 'v_lin'].
   */
  targetModules?: string[] | string;
  /** Which biases train: 'none' (default), 'all', or 'lora_only' (those of adapted modules). */
  bias?: 'none' | 'all' | 'lora_only';
  /** Modules trained in full and saved with the adapter. Default ['pre_classifier', 'classifier']. */
  modulesToSave?: string[];
  /** rsLoRA scaling alpha / √r. Default false. */
  useRslora?: boolean;
  /** true: A kaiming-uniform(a=√5), B = 0 (PEFT's default); 'gaussian': A ~ N(0, 1/r), B = 0. */
  init?: true | 'gaussian';
  /** Adapt only these transformer layers (indices). */
  layersToTransform?: number[];
  /** Per-module rank overrides: key is a regex matched at the end of the module name. */
  rankPattern?: Record<string, number>;
  /** Per-module alpha overrides, like rankPattern. */
  alphaPattern?: Record<string, number>;
}

/** The resolved form, also what adapter_config.json records. */
export interface ResolvedLora {
  r: number;
  alpha: number;
  dropout: number;
  targetModules: string[] | string;
  bias: 'none' | 'all' | 'lora_only';
  modulesToSave: string[];
  useRslora: boolean;
  init: true | 'gaussian';
  layersToTransform: number[] | null;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
}

export const DEFAULT_TARGETS = ['q_lin', 'v_lin'];
/** DistilBERT's transformer-block linears: what 'all-linear' adapts (the head trains in full). */
const BLOCK_LINEAR = /^distilbert\.transformer\.layer\.\d+\.(attention\.(q|k|v|out)_lin|ffn\.lin[12])$/;

function numberIn(value: unknown, name: string, ok: (n: number) => boolean, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !ok(value)) throw expected(what, name, value);
  return value;
}

function patternMap(value: unknown, name: string, integer: boolean): Record<string, number> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw expected('an object of pattern -> number', name, value);
  for (const [key, n] of Object.entries(value)) {
    if (typeof n !== 'number' || !(n > 0) || (integer && !Number.isInteger(n)))
      throw expected(integer ? 'a positive integer' : 'a positive number', `${name}[${JSON.stringify(key)}]`, n);
    try {
      new RegExp(key);
    } catch {
      throw expected('a valid regular expression key', name, key);
    }
  }
  return value as Record<string, number>;
}

export function resolveLoraOptions(options: unknown): ResolvedLora {
  if (options !== undefined && options !== true && !isPlainObject(options))
    throw expected('a LoRA options object, true or false', 'lora', options);
  const o = isPlainObject(options) ? options : {};
  const targets = o.targetModules ?? DEFAULT_TARGETS;
  if (typeof targets === 'string') {
    try {
      if (targets !== 'all-linear') new RegExp(targets);
    } catch {
      throw expected('a valid regular expression', 'lora.targetModules', targets);
    }
  } else if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t) => typeof t === 'string' && t.length > 0)) {
    throw expected("a non-empty array of module names, a regular expression string or 'all-linear'", 'lora.targetModules', targets);
  }
  const bias = o.bias ?? 'none';
  if (!['none', 'all', 'lora_only'].includes(bias as string)) throw expected("'none', 'all' or 'lora_only'", 'lora.bias', bias);
  const modulesToSave = o.modulesToSave ?? ['pre_classifier', 'classifier'];
  if (!Array.isArray(modulesToSave) || !modulesToSave.every((m) => typeof m === 'string'))
    throw expected('an array of module names', 'lora.modulesToSave', modulesToSave);
  const init = o.init ?? true;
  if (init !== true && init !== 'gaussian') throw expected("true or 'gaussian'", 'lora.init', init);
  const layers = o.layersToTransform;
  if (layers !== undefined && (!Array.isArray(layers) || !layers.every((l) => Number.isInteger(l) && l >= 0)))
    throw expected('an array of layer indices', 'lora.layersToTransform', layers);
  if (o.useRslora !== undefined && typeof o.useRslora !== 'boolean') throw expected('a boolean', 'lora.useRslora', o.useRslora);
  return {
    r: numberIn(o.r, 'lora.r', (n) => Number.isInteger(n) && n >= 1, 'a positive integer', 8),
    alpha: numberIn(o.alpha, 'lora.alpha', (n) => n > 0, 'a positive number', 8),
    dropout: numberIn(o.dropout, 'lora.dropout', (n) => n >= 0 && n < 1, 'a number in [0, 1)', 0),
    targetModules: targets as string[] | string,
    bias: bias as ResolvedLora['bias'],
    modulesToSave: modulesToSave as string[],
    useRslora: (o.useRslora as boolean | undefined) ?? false,
    init,
    layersToTransform: (layers as number[] | undefined) ?? null,
    rankPattern: patternMap(o.rankPattern, 'lora.rankPattern', true),
    alphaPattern: patternMap(o.alphaPattern, 'lora.alphaPattern', false),
  };
}

function targeted(module: string, lora: ResolvedLora): boolean {
  const t = lora.targetModules;
  if (t === 'all-linear') return BLOCK_LINEAR.test(module);
  if (typeof t === 'string') return new RegExp(`^(?:${t})$`).test(module);
  if (!t.some((name) => module === name || module.endsWith(`.${name}`))) return false;
  if (lora.layersToTransform) {
    const layer = /(?:^|\.)layer\.(\d+)\./.exec(module);
    return layer !== null && lora.layersToTransform.includes(Number(layer[1]));
  }
  return true;
}

/** PEFT's get_pattern_key: the first pattern whose regex matches the end of the module name. */
function patternValue(patterns: Record<string, number>, module: string): number | undefined {
  for (const [key, value] of Object.entries(patterns)) if (new RegExp(`(^|.*\\.)(?:${key})$`).test(module)) return value;
  return undefined;
}

/** Resolves the options against the model's linear names; modulesToSave are never adapted. */
export function loraSpec(lora: ResolvedLora, linearNames: readonly string[]): NativeLoraSpec {
  // PEFT matches modules_to_save with plain str.endswith: "classifier" also saves "pre_classifier".
  const saved = (m: string) => lora.modulesToSave.some((s) => m.endsWith(s));
  const modules: NativeLoraModule[] = linearNames
    .filter((m) => !saved(m) && targeted(m, lora))
    .map((module) => ({
      module,
      r: patternValue(lora.rankPattern, module) ?? lora.r,
      alpha: patternValue(lora.alphaPattern, module) ?? lora.alpha,
    }));
  if (modules.length === 0)
    throw expected(
      `targetModules matching some of the model's linears (${linearNames.slice(0, 4).join(', ')}, ...)`,
      'lora.targetModules',
      lora.targetModules,
    );
  return {
    modules,
    dropout: lora.dropout,
    useRslora: lora.useRslora,
    init: lora.init === 'gaussian' ? 'gaussian' : 'kaiming',
    bias: lora.bias,
    modulesToSave: lora.modulesToSave,
  };
}
