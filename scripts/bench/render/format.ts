// Formatting shared by the renderers: numbers as the report prints them, Markdown tables, and
// the line a section gets when its benchmark did not run or failed.
import type { BenchRecord } from '../results.ts';

export const fmt = (n: number | null | undefined, digits = 0): string =>
  n === undefined || n === null || Number.isNaN(n)
    ? '–'
    : Number(n).toLocaleString('en-US', {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      });
export const pct = (a: number, b: number | undefined): string =>
  b ? `${fmt((a / b) * 100, 1)} %` : '–';
export const ratio = (a: number, b: number | undefined): string => (b ? `${fmt(a / b, 2)}×` : '–');
export const table = (head: string[], rows: (string | undefined)[][]): string =>
  [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

/** A benchmark's output as its result type: the results file is this script's own output. */
export function resultOf<T>(record: BenchRecord | undefined): T | undefined {
  return record?.result as T | undefined;
}

export function renderFailed(record: BenchRecord | undefined): string {
  return `**Not measured in this run**: ${record ? record.error : 'not selected'}.`;
}
