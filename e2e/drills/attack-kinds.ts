// The hostile tenant's attacks on the services VMs share (issue 11), run by noisy-agent.ts
// inside the attacker's namespace. Each is bounded: it opens at most a fixed number of
// connections / sends at most a fixed number of packets, and every timer ends at `durationMs`
// (or on stop()). Counters say what each achieved, so a drill can tell an attack that hit from
// one that never got going.
import { createSocket } from 'node:dgram';
import { Agent, request } from 'node:http';
import { createConnection, type Socket } from 'node:net';
import { DhcpClient } from './dhcp-client.ts';
import { dnsQuery, randomMac, readDnsReply } from './noisy-packets.ts';

export interface AttackConfig {
  role: 'attack';
  durationMs: number;
  metadata: { host: string; port: number };
  gateway: string;
  /** Connection flood: hold `idle` connections that send nothing, then open `newPerSecond` a
   * second, first to replace idle ones the server closed, the rest held `holdMs`; at most `max`
   * in all. A hostile
   * client never closes its side: when the server ends its side (FIN), the socket stays
   * half-open until the server destroys it or the attacker lets go. */
  connectionFlood?: { idle: number; newPerSecond: number; holdMs: number; max: number };
  /** Slow headers: `connections` requests that send one header byte every `byteEveryMs`. */
  slowHeaders?: { connections: number; byteEveryMs: number; max: number };
  /** Request flood: `concurrency` keep-alive loops of GET /, as fast as answers come (each
   * given up after 2 s). */
  /** `timeoutMs` (default 2000): a request waiting longer is given up and sent again. */
  requestFlood?: { concurrency: number; timeoutMs?: number };
  /** DHCP starvation: DISCOVER/REQUEST with a new random MAC, `perSecond`, at most `max`. */
  dhcpStarvation?: { perSecond: number; max: number };
  /** DNS flood: `perSecond` queries, alternately a new name under `forwardedDomain` (dnsmasq
   * forwards it upstream) and `localName` (answered by dnsmasq itself). */
  dnsFlood?: { perSecond: number; forwardedDomain: string; localName: string };
  /** Conntrack flood: new flows to `host` without end: UDP datagrams to a new port each time
   * (`udpPerSecond`, at most `udpMax`) and TCP connections to `tcpPort` that are held open
   * (`tcpPerSecond`, at most `tcpMax`). */
  conntrackFlood?: {
    host: string;
    tcpPort: number;
    udpPerSecond: number;
    udpMax: number;
    tcpPerSecond: number;
    tcpMax: number;
  };
}

export function newCounters() {
  return {
    connectionFlood: {
      /** Connections tried; `opened` of them completed the handshake. */
      attempted: 0,
      opened: 0,
      connectErrors: 0,
      /** The server ended its side (FIN); the attacker kept its own open. */
      endedByServer: 0,
      /** Gone before the attacker let go (reset or destroyed by the server). */
      closedByServer: 0,
      held: 0,
      peakHeld: 0,
    },
    connectionFloodAnswers: {} as Record<string, number>,
    slowHeaders: {
      attempted: 0,
      opened: 0,
      bytesSent: 0,
      endedByServer: 0,
      closedByServer: 0,
      held: 0,
      peakHeld: 0,
    },
    requestFlood: { sent: 0, errors: 0, timeouts: 0 },
    requestFloodStatuses: {} as Record<string, number>,
    dhcpStarvation: { discovers: 0, offers: 0, requests: 0, acks: 0, failed: 0 },
    dnsFlood: { sent: 0, forwardedSent: 0, localSent: 0, answered: 0, errorAnswers: 0 },
    conntrackFlood: { udpSent: 0, tcpAttempted: 0, tcpOpened: 0, tcpErrors: 0, tcpHeld: 0 },
  };
}
export type AttackCounters = ReturnType<typeof newCounters>;

export interface RunningAttacks {
  counters: AttackCounters;
  /** Settles when `durationMs` has passed. */
  done: Promise<void>;
  /** Ends every attack now: timers cleared, sockets destroyed. */
  stop(): Promise<void>;
}

export function startAttacks(config: AttackConfig): RunningAttacks {
  const counters = newCounters();
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const closers: (() => void)[] = [];
  let stopped = false;
  const every = (ms: number, tick: () => void) => {
    const timer = setInterval(() => {
      if (!stopped) tick();
    }, ms);
    timers.add(timer);
  };
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    // A handshake that a firewall drops would hang for minutes: give up after 3 s, as a
    // flooding client would, so the attempts stay bounded in file descriptors too.
    const timer = setTimeout(() => {
      if (socket.connecting) socket.destroy();
    }, 3000);
    socket.once('connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
    return socket;
  };
  const firstLine = (data: Buffer) => /^HTTP\/1\.1 (\d+)/.exec(data.toString('latin1'))?.[1];

  const flood = config.connectionFlood;
  if (flood) {
    const c = counters.connectionFlood;
    let total = 0;
    let idleHeld = 0;
    const open = (idle: boolean) => {
      total++;
      c.attempted++;
      if (idle) idleHeld++;
      let connected = false;
      let ours = false;
      const socket = track(
        createConnection({
          host: config.metadata.host,
          port: config.metadata.port,
          allowHalfOpen: true,
        }),
      );
      socket.on('end', () => {
        if (!stopped) c.endedByServer++;
      });
      socket.on('connect', () => {
        connected = true;
        c.opened++;
        c.held++;
        c.peakHeld = Math.max(c.peakHeld, c.held);
        if (!idle) {
          const timer = setTimeout(() => {
            ours = true;
            socket.destroy();
          }, flood.holdMs);
          timers.add(timer);
        }
      });
      socket.on('data', (data) => {
        const status = firstLine(data) ?? 'other';
        counters.connectionFloodAnswers[status] =
          (counters.connectionFloodAnswers[status] ?? 0) + 1;
      });
      socket.on('error', () => {
        if (!connected) c.connectErrors++;
      });
      socket.on('close', () => {
        if (idle) idleHeld--;
        if (!connected) return;
        c.held--;
        if (!ours && !stopped) c.closedByServer++;
      });
    };
    let filled = false;
    const fillUntil = Date.now() + 2000;
    every(100, () => {
      // The idle set fills in about a second (2 s at most); after that, every new connection (replacing an
      // idle one the server closed, or a short-lived one) comes out of `newPerSecond`, so a
      // server that closes idle connections faces that rate, not a reconnect storm.
      if (idleHeld >= flood.idle || Date.now() > fillUntil) filled = true;
      let budget = Math.ceil(flood.newPerSecond / 10);
      const missing = flood.idle - idleHeld;
      const refill = filled
        ? Math.min(missing, budget)
        : Math.min(missing, Math.ceil(flood.idle / 10));
      for (let i = 0; i < refill && total < flood.max; i++) open(true);
      if (filled) budget -= refill;
      for (let i = 0; i < budget && total < flood.max; i++) open(false);
    });
  }

  const slow = config.slowHeaders;
  if (slow) {
    const c = counters.slowHeaders;
    let total = 0;
    const live = new Set<Socket>();
    const open = () => {
      total++;
      c.attempted++;
      let connected = false;
      const socket = track(
        createConnection({
          host: config.metadata.host,
          port: config.metadata.port,
          allowHalfOpen: true,
        }),
      );
      socket.on('end', () => {
        if (!stopped) c.endedByServer++;
      });
      socket.on('connect', () => {
        connected = true;
        c.opened++;
        live.add(socket);
        c.held = live.size;
        c.peakHeld = Math.max(c.peakHeld, c.held);
        socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
        c.bytesSent += 32;
      });
      socket.on('close', () => {
        live.delete(socket);
        c.held = live.size;
        if (connected && !stopped) c.closedByServer++;
      });
    };
    every(slow.byteEveryMs, () => {
      for (const socket of live) {
        socket.write('a');
        c.bytesSent++;
      }
    });
    every(100, () => {
      const missing = slow.connections - live.size;
      // At most 100 new a second: a server that cuts them off faces that, not a storm.
      for (let i = 0; i < Math.min(missing, 10) && total < slow.max; i++) open();
    });
  }

  const requests = config.requestFlood;
  if (requests) {
    const c = counters.requestFlood;
    const agent = new Agent({ keepAlive: true, maxSockets: requests.concurrency });
    closers.push(() => agent.destroy());
    const once = () =>
      new Promise<void>((resolve) => {
        c.sent++;
        const req = request(
          { host: config.metadata.host, port: config.metadata.port, path: '/', agent },
          (res) => {
            const key = String(res.statusCode);
            counters.requestFloodStatuses[key] = (counters.requestFloodStatuses[key] ?? 0) + 1;
            res.resume();
            res.on('end', resolve);
            res.on('error', resolve);
          },
        );
        // A request stuck behind a full connection table is given up after 2 s and sent again,
        // as an impatient client would: the flood keeps coming whatever the server does.
        req.setTimeout(requests.timeoutMs ?? 2000, () => {
          c.timeouts++;
          req.destroy();
        });
        req.on('error', () => {
          c.errors++;
          // A refused connection fails at once: pause so the loop does not only spin.
          setTimeout(resolve, 20);
        });
        req.end();
      });
    for (let i = 0; i < requests.concurrency; i++) {
      void (async () => {
        while (!stopped) await once();
      })();
    }
  }

  const starve = config.dhcpStarvation;
  if (starve) {
    const c = counters.dhcpStarvation;
    const opening = DhcpClient.open({ offer: () => c.offers++, request: () => c.requests++ });
    void opening.then((client) => {
      closers.push(() => client.close());
      if (stopped) client.close();
    });
    every(50, () => {
      void opening.then((client) => {
        for (let i = 0; i < starve.perSecond / 20 && c.discovers < starve.max; i++) {
          c.discovers++;
          client.lease(randomMac(), 5000).then(
            () => c.acks++,
            () => c.failed++,
          );
        }
      });
    });
  }

  const dns = config.dnsFlood;
  if (dns) {
    const c = counters.dnsFlood;
    const socket = createSocket('udp4');
    socket.on('error', () => {});
    socket.on('message', (message) => {
      const reply = readDnsReply(message);
      if (!reply) return;
      c.answered++;
      if (reply.rcode !== 0) c.errorAnswers++;
    });
    closers.push(() => socket.close());
    let id = 0;
    every(10, () => {
      for (let i = 0; i < dns.perSecond / 100; i++) {
        const forwarded = id % 2 === 0;
        const name = forwarded
          ? `q${id.toString(36)}${Math.random().toString(36).slice(2, 8)}.${dns.forwardedDomain}`
          : dns.localName;
        socket.send(dnsQuery(id++, name), 53, config.gateway);
        c.sent++;
        if (forwarded) c.forwardedSent++;
        else c.localSent++;
      }
    });
  }

  const ct = config.conntrackFlood;
  if (ct) {
    const c = counters.conntrackFlood;
    const udp = createSocket('udp4');
    udp.on('error', () => {});
    closers.push(() => udp.close());
    every(100, () => {
      for (let i = 0; i < ct.udpPerSecond / 10 && c.udpSent < ct.udpMax; i++) {
        // A new destination port is a new flow for conntrack.
        udp.send(Buffer.from('x'), 1024 + Math.floor(Math.random() * 64_000), ct.host);
        c.udpSent++;
      }
      for (let i = 0; i < ct.tcpPerSecond / 10 && c.tcpAttempted < ct.tcpMax; i++) {
        c.tcpAttempted++;
        let connected = false;
        const socket = track(createConnection({ host: ct.host, port: ct.tcpPort }));
        socket.on('connect', () => {
          connected = true;
          c.tcpOpened++;
          c.tcpHeld++;
        });
        socket.on('error', () => {
          if (!connected) c.tcpErrors++;
        });
        socket.on('close', () => {
          if (connected) c.tcpHeld--;
        });
      }
    });
  }

  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const end = setTimeout(finish, config.durationMs);
  return {
    counters,
    done,
    async stop() {
      stopped = true;
      clearTimeout(end);
      finish();
      for (const timer of timers) {
        clearInterval(timer);
        clearTimeout(timer);
      }
      for (const socket of sockets) socket.destroy();
      for (const close of closers) close();
    },
  };
}
