import { writeStory } from './helpers/story.js';
import { realize } from './helpers/cli.js';
const td: Array<() => unknown> = [];
const s = await writeStory({ teardown: (f) => td.push(f) });
await s.close();
const r = (...a: string[]) => realize(s.env, s.root, ...a);
s.clock.t = s.steps[52]!.time + 90000;
for (const args of process.argv.slice(2).map((x) => x.split(' '))) {
  const x = await r(...args);
  console.log('$', args.join(' '), '->', x.code, x.stderr); console.log(x.stdout);
}
for (const f of td) await f();
