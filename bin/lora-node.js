#!/usr/bin/env node
// The `lora-node` command. It lives in git with its executable bit set because
// dist/ is compiled by tsc, which writes files without one, and npm does not
// mark a root project's bin executable: `npx lora-node` in a clone would fail.
import '../dist/cli/main.js';
