/**
 * Where you stand in the log. A position is written as:
 *
 *   head                      the newest state
 *   @N                        after the N-th entry applied (0 = before anything)
 *   FEED:SEQ[,FEED:SEQ...]    after entry SEQ of each feed named (a prefix of its name)
 *   2026-11-20T14:00[:SS]     a wall time (local time unless it ends in Z or an offset)
 *   today 14:00, yesterday 14:00, 14:00
 *   -2h, -30m, -45s, -3d      that long before now
 *   NAME                      a tag (`realize tag NAME [POSITION]`)
 *
 * Every form resolves to an apply position n; a position the log does not hold is an error
 * that says so.
 */
import { EngineError } from './engine-error.js';

export type Position =
  | { readonly kind: 'head' }
  | { readonly kind: 'n'; readonly n: number }
  | { readonly kind: 'entries'; readonly entries: ReadonlyArray<readonly [feedPrefix: string, seq: number]> }
  | { readonly kind: 'time'; readonly ms: number; readonly text: string }
  | { readonly kind: 'tag'; readonly name: string };

const TAG_RE = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

export function validTagName(name: string): boolean {
  return TAG_RE.test(name) && name !== 'head' && name !== 'today' && name !== 'yesterday';
}

function clock(text: string, base: Date): number | null {
  const m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (!m) return null;
  const d = new Date(base);
  d.setHours(Number(m[1]), Number(m[2]), Number(m[3] ?? 0), 0);
  return d.getTime();
}

export function parsePosition(text: string, now: number): Position {
  const t = text.trim();
  if (t === '' || t === 'head' || t === 'HEAD') return { kind: 'head' };
  let m = /^@(\d+)$/.exec(t);
  if (m) return { kind: 'n', n: Number(m[1]) };
  m = /^-(\d+(?:\.\d+)?)([smhdw])$/.exec(t);
  if (m) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return { kind: 'time', ms: now - Number(m[1]) * unit, text: t };
  }
  m = /^(today|yesterday)(?:\s+(\S+))?$/.exec(t);
  if (m) {
    const base = new Date(now);
    if (m[1] === 'yesterday') base.setDate(base.getDate() - 1);
    base.setHours(0, 0, 0, 0);
    const ms = m[2] === undefined ? base.getTime() : clock(m[2], base);
    if (ms === null) throw new EngineError('BAD_ARGUMENT', `not a time of day: ${m[2]} (use HH:MM)`);
    return { kind: 'time', ms, text: t };
  }
  const tod = clock(t, new Date(now));
  if (tod !== null) return { kind: 'time', ms: tod, text: t };
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(t)) {
    const ms = Date.parse(t.includes('T') || !t.includes(' ') ? t : t.replace(' ', 'T'));
    if (Number.isNaN(ms)) throw new EngineError('BAD_ARGUMENT', `not a date: ${t}`);
    return { kind: 'time', ms, text: t };
  }
  if (/^[0-9a-f]{4,64}(\.[a-z0-9-]+)?:\d+(,[0-9a-f]{4,64}(\.[a-z0-9-]+)?:\d+)*$/.test(t)) {
    return {
      kind: 'entries',
      entries: t.split(',').map((part) => {
        const i = part.lastIndexOf(':');
        return [part.slice(0, i), Number(part.slice(i + 1))] as const;
      }),
    };
  }
  if (validTagName(t)) return { kind: 'tag', name: t };
  throw new EngineError('BAD_ARGUMENT', `not a position: ${JSON.stringify(text)} (try head, @N, FEED:SEQ, a date like 2026-11-20T14:00, -2h, yesterday 14:00, or a tag)`);
}
