import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from './errors.js';
import { singleTable, subnetTable } from './network-table.js';

describe('subnetTable', () => {
  it('finds a network by name and by source address', () => {
    const table = subnetTable<string>();
    table.add('a', '10.0.0.0/24', 'A');
    expect([table.get('a'), table.lookup('10.0.0.7'), table.lookup('10.0.1.7')]).toEqual([
      'A',
      'A',
      undefined,
    ]);
  });

  it('removes a network and returns it', () => {
    const table = subnetTable<string>();
    table.add('a', '10.0.0.0/24', 'A');
    expect([table.remove('a'), table.remove('a'), table.size]).toEqual(['A', undefined, 0]);
  });

  it('answers undefined for a name that is not a string', () => {
    expect(subnetTable<string>().get(42)).toBeUndefined();
  });
});

describe('singleTable', () => {
  it('puts every source address in its one network', () => {
    const table = singleTable('only', 'S');
    expect([table.lookup(''), table.lookup('192.0.2.1'), [...table.values()], table.size]).toEqual([
      'S',
      'S',
      ['S'],
      1,
    ]);
  });

  it('knows its network by name only', () => {
    const table = singleTable('only', 'S');
    expect([table.get('only'), table.get('other')]).toEqual(['S', undefined]);
  });

  it('refuses to add a network', () => {
    expect(() => singleTable('only', 'S').add('b', '10.0.0.0/24', 'B')).toThrow(InvalidOptionError);
  });

  it('never removes its network', () => {
    const table = singleTable('only', 'S');
    expect([table.remove('only'), table.get('only')]).toEqual([undefined, 'S']);
  });
});
