// The built addon for the benchmark scripts (LORA_NODE_BINARY overrides, as for the library).
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { REPO_ROOT } from '../infer/common.mjs';

export const addon = createRequire(import.meta.url)(process.env.LORA_NODE_BINARY ?? join(REPO_ROOT, 'build', 'Release', 'lora_node.node'));
