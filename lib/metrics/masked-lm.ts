// The report of a masked-language-model evaluation (held-out masked tokens).
export interface MaskedLmReport {
  kind: 'masked-lm';
  /** Mean cross-entropy over the masked tokens. */
  loss: number;
  /** Share of masked tokens predicted exactly. */
  accuracy: number;
  /** Masked tokens scored. */
  tokens: number;
}
