// The native addon for tests, until the loader module (lib/native) exists.
// LORA_NODE_ADDON overrides the path (e.g. a build in another --out folder).
import { createRequire } from 'node:module';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const addon: any = createRequire(import.meta.url)(process.env.LORA_NODE_ADDON ?? '../../build/Release/lora_node.node');
