// The matrix's readable report: one line per (scenario, backend) with pass/fail and the
// evidence, written to .test-results/e2e-report-<backend>.txt and printed at the end of a file.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../guest/common.ts';

export interface ReportLine {
  scenario: string;
  backend: string;
  ok: boolean;
  evidence: string;
}

export class MatrixReport {
  readonly backend: string;
  readonly lines: ReportLine[] = [];
  readonly notes: string[] = [];

  constructor(backend: string) {
    this.backend = backend;
  }

  /**
   * Runs `assertions`; records pass/fail with `evidence()` (computed afterwards, so it shows
   * what was seen even when something threw early), then rethrows a failure.
   */
  async check(
    scenario: string,
    evidence: () => string,
    assertions: () => void | Promise<void>,
  ): Promise<void> {
    let failure: unknown;
    try {
      await assertions();
    } catch (error) {
      failure = error;
    }
    let text: string;
    try {
      text = evidence();
    } catch (error) {
      text = `(no evidence: ${String(error)})`;
    }
    if (failure !== undefined) {
      const first = String((failure as Error).message ?? failure).split('\n')[0];
      text = `${text} | FAILED: ${first}`;
    }
    this.lines.push({ scenario, backend: this.backend, ok: failure === undefined, evidence: text });
    if (failure !== undefined) throw failure;
  }

  note(text: string): void {
    this.notes.push(text);
  }

  render(): string {
    const width = Math.max(...this.lines.map((l) => l.scenario.length), 10);
    const body = this.lines.map(
      (l) =>
        `${l.ok ? 'PASS' : 'FAIL'}  ${this.backend.padEnd(8)} ${l.scenario.padEnd(width)}  ${l.evidence}`,
    );
    const notes = this.notes.map((n) => `  note: ${n}`);
    return [`e2e matrix report (${this.backend})`, ...body, ...notes, ''].join('\n');
  }

  /** Writes the report file and returns its path. */
  async write(): Promise<string> {
    const dir = join(repoRoot, '.test-results');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `e2e-report-${this.backend}.txt`);
    await writeFile(file, this.render());
    return file;
  }
}
