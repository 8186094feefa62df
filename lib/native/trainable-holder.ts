// A native model whose trainable parameters JS can inspect: Model and MaskedLanguageModel.
import { NativeHolder } from './native-holder.js';
import type { NativeModelHandle } from './types.js';

export abstract class TrainableHolder extends NativeHolder<NativeModelHandle> {
  /** Gradients of the trainable parameters, keyed as they are saved (PEFT keys with LoRA, else transformers' names). */
  gradients(): Record<string, Float32Array> {
    return this.live().gradients();
  }

  zeroGrad(): void {
    this.live().zeroGrad();
  }

  trainableParameterNames(): string[] {
    return this.live().trainableNames();
  }
}
