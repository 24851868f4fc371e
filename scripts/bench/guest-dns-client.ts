// The guest benchmark's DNS client, run inside the VM stand-in's namespace (`ip netns exec bdvm
// node guest-dns-client.ts GATEWAY COUNT`): COUNT A queries for `taskcluster` to the gateway's
// dnsmasq, one in flight, alternating in blocks of 100 with a baseline (a canned-answer
// node:dgram responder on this namespace's loopback). Prints both sets of round-trip times as
// JSON on stdout.
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';

/** A DNS query for `name` (A, recursion desired) with the given id. */
function dnsQuery(id: number, name: string): Buffer {
  const labels = name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

export interface DnsTimes {
  times: number[];
  errors: number;
}

/** Sequential queries to `host:port`, one in flight; returns round-trip times in ms. */
async function queryLoop(
  socket: Socket,
  host: string,
  port: number,
  count: number,
): Promise<DnsTimes> {
  const times: number[] = [];
  let errors = 0;
  for (let i = 0; i < count; i++) {
    const id = i & 0xffff;
    const query = dnsQuery(id, 'taskcluster');
    const t0 = performance.now();
    const answer = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        socket.off('message', onMessage);
        resolve(false);
      }, 1000);
      const onMessage = (msg: Buffer) => {
        if (msg.readUInt16BE(0) !== id) return;
        clearTimeout(timer);
        socket.off('message', onMessage);
        // rcode 0 and at least one answer
        resolve((msg.readUInt16BE(2) & 0xf) === 0 && msg.readUInt16BE(6) > 0);
      };
      socket.on('message', onMessage);
    });
    socket.send(query, port, host);
    if (await answer) times.push(performance.now() - t0);
    else errors++;
  }
  return { times, errors };
}

async function dnsClient(gateway: string, count: number): Promise<void> {
  // The baseline: answers every query at once with a fixed A record.
  const responder = createSocket('udp4');
  responder.on('message', (msg, rinfo) => {
    const reply = Buffer.concat([
      msg,
      Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 169, 254, 169, 254]),
    ]);
    reply.writeUInt16BE(0x8180, 2);
    reply.writeUInt16BE(1, 6);
    responder.send(reply, rinfo.port, rinfo.address);
  });
  responder.bind(5353, '127.0.0.1');
  await once(responder, 'listening');
  const socket = createSocket('udp4');
  socket.bind(0);
  await once(socket, 'listening');
  // Warm-up, then alternate blocks so drift hits both.
  await queryLoop(socket, gateway, 53, 50);
  await queryLoop(socket, '127.0.0.1', 5353, 50);
  const out: Record<'dnsmasq' | 'baseline', DnsTimes> = {
    dnsmasq: { times: [], errors: 0 },
    baseline: { times: [], errors: 0 },
  };
  const block = 100;
  for (let done = 0; done < count; done += block) {
    const n = Math.min(block, count - done);
    for (const [key, host, port] of [
      ['dnsmasq', gateway, 53],
      ['baseline', '127.0.0.1', 5353],
    ] as const) {
      const r = await queryLoop(socket, host, port, n);
      out[key].times.push(...r.times);
      out[key].errors += r.errors;
    }
  }
  socket.close();
  responder.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

const [gateway, count] = process.argv.slice(2);
if (!gateway || !count) {
  console.error('usage: node guest-dns-client.ts GATEWAY COUNT');
  process.exit(2);
}
await dnsClient(gateway, Number(count));
