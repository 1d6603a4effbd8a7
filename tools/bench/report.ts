/**
 * Printing bench results: a table with Realize and its anchor side by side, or with --json
 * one object per row: {"bench","workload","unit","realize","anchor","anchorValue","ratio"}.
 * ratio > 1 means Realize is better: realize/anchor for rates, anchor/realize for times and
 * sizes. Values are rounded once, here, and the ratio is the quotient of the printed values.
 */
import type { Better, BenchResult, BenchRow } from './registry.js';

export interface JsonRow {
  readonly bench: string;
  readonly workload: string;
  readonly unit: string;
  readonly realize: number | null;
  readonly anchor: string;
  readonly anchorValue: number | null;
  readonly ratio: number | null;
}

/** A count with thousands separators (100,000). */
export function fmtN(n: number): string {
  return n.toLocaleString('en-US');
}

export function betterOf(row: Pick<BenchRow, 'unit' | 'better'>): Better {
  return row.better ?? (row.unit.endsWith('/s') ? 'higher' : 'lower');
}

/** Rates to whole units; anything else to 4 significant digits. */
export function roundValue(v: number, unit: string): number {
  if (!Number.isFinite(v)) return v;
  if (unit.endsWith('/s') && Math.abs(v) >= 100) return Math.round(v);
  return Number(v.toPrecision(4));
}

/** > 1 when Realize is better; null when either side is missing or zero. */
export function ratioOf(realize: number | null, anchor: number | null, better: Better): number | null {
  if (realize === null || anchor === null || !(realize > 0) || !(anchor > 0)) return null;
  if (!Number.isFinite(realize) || !Number.isFinite(anchor)) return null;
  const r = better === 'higher' ? realize / anchor : anchor / realize;
  return Number(r.toPrecision(4));
}

export function toJsonRow(bench: string, row: BenchRow): JsonRow {
  const realize = row.realize === null ? null : roundValue(row.realize, row.unit);
  const anchorValue = row.anchorValue === null ? null : roundValue(row.anchorValue, row.unit);
  return {
    bench,
    workload: row.workload,
    unit: row.unit,
    realize,
    anchor: row.anchor,
    anchorValue,
    ratio: ratioOf(realize, anchorValue, betterOf(row)),
  };
}

function fmt(v: number | null): string {
  if (v === null) return '—';
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return String(v);
}

function fmtRatio(r: number | null): string {
  return r === null ? '—' : `${r.toFixed(2)}×`;
}

const HEADERS = ['workload', 'unit', 'realize', 'anchor', 'anchor value', 'ratio'] as const;
const RIGHT = new Set([2, 4, 5]);

/** The table for one bench, with its notes as footnotes. */
export function formatTable(bench: string, description: string, result: BenchResult): string {
  const rows = result.rows.map((r) => toJsonRow(bench, r));
  const cells = rows.map((r) => [r.workload, r.unit, fmt(r.realize), r.anchor, fmt(r.anchorValue), fmtRatio(r.ratio)]);
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string =>
    c
      .map((s, i) => (RIGHT.has(i) ? s.padStart(widths[i]!) : s.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [`bench ${bench}: ${description}`, line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const c of cells) out.push(line(c));
  out.push('ratio > 1: Realize is better (rates: realize/anchor; times and sizes: anchor/realize)');
  for (const n of result.notes) out.push(`* ${n}`);
  return `${out.join('\n')}\n`;
}

export function formatJsonLines(bench: string, result: BenchResult): string {
  return result.rows.map((r) => `${JSON.stringify(toJsonRow(bench, r))}\n`).join('');
}
