import { type Check, runDoctor } from '../../doctor.js';
import { type Output, table } from '../output.js';
import { intValue, type Values } from '../parse.js';

export async function doctorCommand(values: Values, out: Output): Promise<number> {
  const size = intValue(values, 'size');
  const checks = await runDoctor({
    ...(size !== undefined && { size }),
    ...(values.prefix !== undefined && { prefix: values.prefix }),
    ...(values.subnet !== undefined && { subnet: values.subnet }),
    ...(values.uplink !== undefined && { uplink: values.uplink }),
  });
  const mark: Record<Check['status'], string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL' };
  out.emit(checks, () =>
    table([
      ['check', 'status', 'detail', 'fix'],
      ...checks.map((c) => [c.name, mark[c.status], c.detail, c.fix ?? '']),
    ]),
  );
  return checks.some((c) => c.status === 'fail') ? 1 : 0;
}
