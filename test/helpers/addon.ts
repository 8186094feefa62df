// The native addon for tests, resolved by the library's own loader
// (LORA_NODE_BINARY overrides the path, e.g. a build in another folder).
import { loadAddon } from '../../lib/native/loader.js';
import type { NativeAddon } from '../../lib/native/types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const addon: NativeAddon & Record<string, any> = loadAddon();
