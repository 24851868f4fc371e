import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TapnetError } from '../../errors.js';
import { recordedPrefixes } from './status.js';

describe('recordedPrefixes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tapnet-status-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lists the prefixes with a record', async () => {
    await writeFile(join(dir, 'tn.json'), '{}');
    await writeFile(join(dir, 'other.txt'), '');
    expect(await recordedPrefixes(dir)).toEqual(['tn']);
  });

  it('says none when the folder does not exist', async () => {
    expect(await recordedPrefixes(join(dir, 'missing'))).toEqual([]);
  });

  // Fail-open was the defect: any other error read as "no pools recorded".
  it('says it could not tell when the folder cannot be read', async () => {
    const notAFolder = join(dir, 'tn.json');
    const error = await recordedPrefixes(notAFolder).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TapnetError);
    expect(error).toMatchObject({ code: 'ERR_STATE_DIR', cause: { code: 'ENOTDIR' } });
    expect((error as Error).message).toContain(`Could not read the state folder ${notAFolder}`);
  });
});
