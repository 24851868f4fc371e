import { describe, expect, it } from 'vitest';
import { planPool } from './plan.js';
import { normalizeTrafficLimits } from './rate.js';
import {
  ifbCreateScript,
  ifbGroup,
  ifbName,
  ifbNamesFit,
  ifbRemoval,
  parsePpsCounters,
  parseTcCounters,
  ppsBurst,
  ppsRemoveScript,
  ppsScript,
  type ShapingChange,
  tcScript,
} from './shaping.js';

const l = (input: object) => normalizeTrafficLimits(input);
const change = (from: object, to: object, device = 'tn3'): ShapingChange => ({
  device,
  ifb: ifbName('tn', device),
  from: l(from),
  to: l(to),
});

describe('names', () => {
  it('names the IFB by prefix and index, apart from any TAP name (no `_` in a prefix)', () => {
    expect(ifbName('tn', 'tn3')).toBe('tn_3');
    expect(ifbName('tn5', 'tn512')).toBe('tn5_12');
  });
  it('creates marked IFBs in their own group, up by name (one) or by group (several)', () => {
    const g = ifbGroup('tn');
    expect(g).not.toBe(planPool({ size: 1, prefix: 'tn' }).linkGroup);
    expect(ifbCreateScript('tn', ['tn_0', 'tn_1'])).toBe(
      `link add tn_0 group ${g} type ifb\nlink add tn_1 group ${g} type ifb\n` +
        'link set dev tn_0 alias tapnet:tn:ifb\nlink set dev tn_1 alias tapnet:tn:ifb\n' +
        `link set group ${g} up\n`,
    );
    expect(ifbCreateScript('tn', ['tn_4'])).toBe(
      `link add tn_4 group ${g} type ifb\nlink set dev tn_4 alias tapnet:tn:ifb\nlink set dev tn_4 up\n`,
    );
  });
});

describe('ifbNamesFit', () => {
  it('fits while `<prefix>_<last index>` has 15 bytes at most (one more than the TAP name)', () => {
    expect(ifbNamesFit('tn', 4096)).toBe(true);
    expect(ifbNamesFit('abcdefghij', 1000)).toBe(true); // abcdefghij_999: 14
    expect(ifbNamesFit('abcdefghijk', 1000)).toBe(true); // abcdefghijk_999: 15
    expect(ifbNamesFit('abcdefghijkl', 1000)).toBe(false); // abcdefghijkl_999: 16 (TAP: 15)
  });
});

describe('ifbRemoval', () => {
  const g = ifbGroup('tn');
  const ifb = (ifname: string, extra: object = {}) => ({
    ifname,
    ifalias: 'tapnet:tn:ifb',
    group: String(g),
    linkinfo: { info_kind: 'ifb' },
    ...extra,
  });
  it('deletes by group when the group holds only our IFBs', () => {
    expect(
      ifbRemoval('tn', [ifb('tn_0'), ifb('tn_1'), { ifname: 'eth0', group: 'default' }]),
    ).toEqual({
      script: `link del group ${g}\n`,
      removed: ['tn_0', 'tn_1'],
    });
  });
  it('deletes device by device, never a stranger, when the group holds one', () => {
    const links = [
      ifb('tn_0'),
      ifb('tn_1', { ifalias: undefined }), // not marked
      ifb('tn5_0', { ifalias: 'tapnet:tn5:ifb' }), // another pool's
      { ifname: 'tn_9', group: String(g), linkinfo: { info_kind: 'dummy' } },
    ];
    expect(ifbRemoval('tn', links)).toEqual({ script: 'link del dev tn_0\n', removed: ['tn_0'] });
  });
  it('deletes only those asked for', () => {
    expect(ifbRemoval('tn', [ifb('tn_0'), ifb('tn_1')], new Set(['tn_1']))).toEqual({
      script: 'link del dev tn_1\n',
      removed: ['tn_1'],
    });
    expect(ifbRemoval('tn', [])).toEqual({ script: '', removed: [] });
  });
});

describe('tcScript', () => {
  it('adds ingress shaping on the TAP root and egress shaping through the IFB', () => {
    expect(tcScript([change({}, { egress: '20mbit', ingress: '10mbit' })])).toBe(
      'qdisc replace dev tn3 root handle 1: tbf rate 10000000bit burst 32768 latency 50ms\n' +
        'qdisc replace dev tn_3 root handle 1: tbf rate 20000000bit burst 50000 latency 50ms\n' +
        'qdisc add dev tn3 handle ffff: ingress\n' +
        'filter add dev tn3 parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev tn_3\n',
    );
  });

  it('changes a rate in place, without touching the redirect', () => {
    expect(tcScript([change({ egress: '20mbit' }, { egress: '5mbit' })])).toBe(
      'qdisc replace dev tn_3 root handle 1: tbf rate 5000000bit burst 32768 latency 50ms\n',
    );
  });

  it('removes only what exists', () => {
    expect(tcScript([change({ egress: '20mbit', ingress: '1mbit' }, {})])).toBe(
      'qdisc del dev tn3 root\nqdisc del dev tn3 ingress\nqdisc del dev tn_3 root\n',
    );
    expect(tcScript([change({ ingress: '1mbit' }, {})])).toBe('qdisc del dev tn3 root\n');
  });

  it('is empty when nothing changes', () => {
    expect(tcScript([change({ egress: '1mbit' }, { egress: 1_000_000 }), change({}, {})])).toBe('');
  });
});

describe('ppsScript', () => {
  it('writes one netdev base chain per capped TAP, idempotently', () => {
    expect(ppsScript('tn', [change({}, { packetsPerSecond: 1000 })])).toBe(
      'add table netdev tapnet_tn_pps\n' +
        'add chain netdev tapnet_tn_pps vm_tn3 { type filter hook ingress device "tn3" priority 0; }\n' +
        'flush chain netdev tapnet_tn_pps vm_tn3\n' +
        'add rule netdev tapnet_tn_pps vm_tn3 limit rate over 1000/second burst 100 packets counter drop\n',
    );
  });
  it('deletes the chain when the cap goes; nothing when unchanged', () => {
    expect(ppsScript('tn', [change({ packetsPerSecond: 5 }, {})])).toBe(
      'flush chain netdev tapnet_tn_pps vm_tn3\ndelete chain netdev tapnet_tn_pps vm_tn3\n',
    );
    expect(ppsScript('tn', [change({ packetsPerSecond: 5 }, { packetsPerSecond: 5 })])).toBe('');
    expect(ppsRemoveScript('tn')).toBe(
      'table netdev tapnet_tn_pps {}\ndelete table netdev tapnet_tn_pps\n',
    );
  });
  it('bursts 100 ms of packets, at least 10', () => {
    expect([ppsBurst(1), ppsBurst(100), ppsBurst(1001)]).toEqual([10, 10, 101]);
  });
});

describe('counters', () => {
  it('reads tbf roots by device, ignoring the rest', () => {
    const text = JSON.stringify([
      { kind: 'noqueue', dev: 'lo', root: true, bytes: 1 },
      {
        kind: 'tbf',
        dev: 'tn0',
        root: true,
        bytes: 10,
        packets: 2,
        drops: 1,
        backlog: 0,
        options: { rate: 2_500_000 },
      },
      { kind: 'ingress', dev: 'tn0', parent: 'ffff:fff1', bytes: 99 },
      { kind: 'tbf', dev: 'tn_0', root: true, bytes: 20, packets: 4, drops: 0, backlog: 3 },
    ]);
    expect(Object.fromEntries(parseTcCounters(text))).toEqual({
      tn0: { bytes: 10, packets: 2, drops: 1, backlog: 0, rate: 20_000_000 },
      tn_0: { bytes: 20, packets: 4, drops: 0, backlog: 3, rate: 0 },
    });
    expect(parseTcCounters('not json').size).toBe(0);
  });
  it('reads the packet-rate drop counters by TAP', () => {
    const text = JSON.stringify({
      nftables: [
        { metainfo: {} },
        { chain: { name: 'vm_tn0' } },
        {
          rule: {
            chain: 'vm_tn0',
            expr: [{ limit: {} }, { counter: { packets: 7, bytes: 700 } }, { drop: null }],
          },
        },
      ],
    });
    expect(Object.fromEntries(parsePpsCounters(text))).toEqual({ tn0: 7 });
    expect(parsePpsCounters('').size).toBe(0);
  });
});
