import type { Netns } from './netns.js';

/**
 * An LLMNR querier run inside a VM stand-in namespace: it sends `count` A queries for `name`
 * to `to` (the group 224.0.0.252 or a unicast address) from `from`, and prints one JSON line:
 * every answer's source and A addresses. It waits `waitMs` after the last query, or less once
 * `count` answers arrived. A child process, so the VM's namespace is its own.
 */
const QUERIER = `
import { createSocket } from 'node:dgram';
const [from, to, name, count, waitMs, gapMs] = process.argv.slice(1);
const socket = createSocket('udp4');
const answers = [];
let sent = 0;
let timer;
let finished = false;
function query(id) {
  const labels = name.split('.');
  const parts = [Buffer.from([id >> 8, id & 255, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of labels) parts.push(Buffer.from([l.length]), Buffer.from(l, 'latin1'));
  parts.push(Buffer.from([0, 0, 1, 0, 1]));
  return Buffer.concat(parts);
}
function done() {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  process.stdout.write(JSON.stringify({ sent, answers }) + '\\n');
  socket.close();
}
socket.on('message', (msg, rinfo) => {
  const addrs = [];
  const an = msg.readUInt16BE(6);
  let at = 12;
  while (msg[at] !== 0) at += msg[at] + 1;
  at += 5;
  for (let i = 0; i < an; i++) {
    at += 2;
    const type = msg.readUInt16BE(at), len = msg.readUInt16BE(at + 8);
    if (type === 1 && len === 4) addrs.push([...msg.subarray(at + 10, at + 14)].join('.'));
    at += 10 + len;
  }
  answers.push({ from: rinfo.address, port: rinfo.port, id: msg.readUInt16BE(0), flags: msg.readUInt16BE(2), addrs });
  if (answers.length >= Number(count)) done();
});
socket.bind({ address: from }, () => {
  socket.setMulticastInterface(from);
  let id = 1;
  const tick = () => {
    if (finished) return;
    if (sent >= Number(count)) return void (timer = setTimeout(done, Number(waitMs)));
    socket.send(query(id++), 5355, to, () => { sent++; setTimeout(tick, Number(gapMs)); });
  };
  tick();
});
`;

export interface LlmnrAnswer {
  from: string;
  port: number;
  id: number;
  flags: number;
  addrs: string[];
}

export interface LlmnrAskResult {
  sent: number;
  answers: LlmnrAnswer[];
}

/** Asks from inside `ns` (bound to `from`) and returns what came back. */
export async function askLlmnr(
  ns: Netns,
  options: {
    from: string;
    to: string;
    name: string;
    count?: number;
    waitMs?: number;
    gapMs?: number;
  },
): Promise<LlmnrAskResult> {
  const argv = [
    process.execPath,
    '--input-type=module',
    '-e',
    QUERIER,
    options.from,
    options.to,
    options.name,
    String(options.count ?? 1),
    String(options.waitMs ?? 3000),
    String(options.gapMs ?? 0),
  ];
  const out = await ns.runOk(argv, { timeout: 60_000 });
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as LlmnrAskResult;
}
