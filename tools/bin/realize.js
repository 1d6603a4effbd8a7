#!/usr/bin/env node
// The `realize` executable: loads the TypeScript sources through tsx and runs the CLI.
// More threads for file I/O than libuv's default 4: import, export and replay keep many
// files in flight (set before the first asynchronous file operation creates the pool).
process.env.UV_THREADPOOL_SIZE ??= '16';

import { register } from 'tsx/esm/api';

register();
const { main } = await import('../main.ts');
process.exitCode = await main(process.argv.slice(2));
