// Per-guest metadata handlers for the matrix: each guest fetches a two-stage scenario from its
// own network's handler, and every call a handler gets is logged, so a test can show which
// handler (which network) answered whom.
//
// Stage 1 (`/scenario`) starts the guest's own listeners and reads its counters, then fetches
// `/stage2`. That request is held until every guest of the round has asked for it (a
// rendezvous), so stage 2 is written knowing the peers' addresses and runs while they listen.
// Stage 2 ends by fetching `/stage2-done`, held until every guest finished stage 2, then reads
// the counters again: whatever a peer sent during its stage 2 shows up in between.

import { waitFor } from '@tapnet/testing';
import type { HandlerContext } from 'tapnet';
import { probeSh, probeTcp, scenario } from '../src/probes.ts';
import type { ScenarioResult } from '../src/responders.ts';

/** The TCP port each guest listens on for its peers (busybox `nc -ll`). */
export const GUEST_TCP_PORT = 7777;

export interface HandlerCall {
  method: string;
  path: string;
  from: string;
  network: string;
}

/** Holds requests until every expected guest arrived at a phase (or the deadline passed). */
export class Rendezvous {
  readonly #arrived = new Map<string, Map<string, string>>();
  readonly #timeoutMs: number;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** Marks `who` (at address `address`) as arrived, then waits for all of `expected`. */
  async arrive(
    phase: string,
    who: string,
    address: string,
    expected: readonly string[],
  ): Promise<Map<string, string>> {
    let seen = this.#arrived.get(phase);
    if (!seen) {
      seen = new Map();
      this.#arrived.set(phase, seen);
    }
    seen.set(who, address);
    const all = seen;
    try {
      await waitFor(() => expected.every((name) => all.has(name)), {
        what: `guests ${expected.join(', ')} at ${phase}`,
        timeout: this.#timeoutMs,
        interval: 100,
      });
    } catch {
      // A guest that never came: answer anyway, so the waiting guest finishes and reports.
    }
    return new Map(all);
  }
}

export interface GuestSlotOptions {
  /** Names the guest in the rendezvous and the report (`A`, `B`, ...). */
  name: string;
  /** What `/identity` answers: unique per guest. */
  identity: string;
  /** Every guest of this round, this one included. */
  round: readonly string[];
  rendezvous: Rendezvous;
  /** Stage 2's probe lines, given this guest's address and its peers' (name → address). */
  stage2: (self: string, peers: Map<string, string>) => string[];
  /** Extra fixed paths (path → body). */
  extra?: Record<string, string>;
}

/**
 * One guest's metadata handler (fetch-style, for `network.setHandler`) and what it saw: every
 * call, and the result the guest POSTed.
 */
export class GuestSlot {
  readonly name: string;
  readonly identity: string;
  readonly calls: HandlerCall[] = [];
  readonly result: Promise<ScenarioResult>;
  readonly #options: GuestSlotOptions;
  #deliver: (result: ScenarioResult) => void = () => {};

  constructor(options: GuestSlotOptions) {
    this.name = options.name;
    this.identity = options.identity;
    this.#options = options;
    this.result = new Promise((resolve) => {
      this.#deliver = resolve;
    });
  }

  readonly handler = async (request: Request, ctx: HandlerContext): Promise<Response> => {
    const path = new URL(request.url).pathname;
    const from = ctx.remoteAddress.replace(/^::ffff:/, '');
    this.calls.push({ method: request.method, path, from, network: ctx.network });
    const o = this.#options;
    const text = (body: string, status = 200) =>
      new Response(body, { status, headers: { 'content-type': 'text/plain' } });
    if (request.method === 'POST' && path === '/result') {
      const output = await request.text();
      this.#deliver({
        output,
        exitCode: Number(request.headers.get('x-tapnet-exit') ?? Number.NaN),
      });
      return text('ok\n');
    }
    if (request.method !== 'GET') return text('method not allowed\n', 405);
    if (path === '/scenario') return text(stage1());
    if (path === '/identity') return text(o.identity);
    if (path === '/stage2') {
      const arrived = await o.rendezvous.arrive('stage2', o.name, from, o.round);
      arrived.delete(o.name);
      return text(`${o.stage2(from, arrived).join('\n')}\n${stage2Tail()}`);
    }
    if (path === '/stage2-done') {
      await o.rendezvous.arrive('stage2-done', o.name, from, o.round);
      return text('done\n');
    }
    if (o.extra && Object.hasOwn(o.extra, path)) return text(o.extra[path] ?? '');
    return text('not found\n', 404);
  };
}

/** Stage 1: the guest's TCP listener (each accepted connection appends to /tmp/tcp-hits), counters, stage 2. */
function stage1(): string {
  return scenario(
    "printf '#!/bin/sh\\necho hit >> /tmp/tcp-hits\\necho guest-tcp-ok\\n' > /tmp/tcp-hit.sh",
    'chmod +x /tmp/tcp-hit.sh',
    `nc -ll -p ${GUEST_TCP_PORT} -e /tmp/tcp-hit.sh </dev/null >/dev/null 2>&1 &`,
    // nc needs a moment to listen; wait for it rather than sleeping a fixed time.
    `_i=0; while [ $_i -lt 50 ] && ! netstat -ltn 2>/dev/null | grep -q ':${GUEST_TCP_PORT} '; do sleep 0.1; _i=$((_i + 1)); done`,
    probeSh('snmp-before', 'cat /proc/net/snmp'),
    '_t 300 wget -q -O /tmp/stage2 "http://$TAPNET_METADATA/stage2" || echo "PROBE stage2=error"',
    '. /tmp/stage2',
  );
}

/** After stage 2: wait for the peers to finish, then counters and the listener's hits. */
function stage2Tail(): string {
  return [
    '_t 300 wget -q -O /dev/null "http://$TAPNET_METADATA/stage2-done" || echo "PROBE stage2-done=error"',
    probeSh('snmp-after', 'cat /proc/net/snmp'),
    probeSh('tcp-hits', 'cat /tmp/tcp-hits 2>/dev/null | wc -l'),
  ].join('\n');
}

/** A guest probing its own listener through its own address: shows the listener was up. */
export function selfTcpProbe(self: string): string {
  return probeTcp('self-tcp', self, GUEST_TCP_PORT);
}

/** `/proc/net/snmp` as `{ 'Icmp.InEchos': n, 'Udp.NoPorts': n, ... }`. */
export function parseSnmp(text: string): Record<string, number> {
  const counters: Record<string, number> = {};
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const head = /^(\w+): (.*)$/.exec(lines[i] ?? '');
    const values = /^(\w+): (.*)$/.exec(lines[i + 1] ?? '');
    if (!head || !values || head[1] !== values[1] || /^-?\d/.test(head[2] ?? '')) continue;
    const names = (head[2] ?? '').trim().split(/\s+/);
    const numbers = (values[2] ?? '').trim().split(/\s+/).map(Number);
    names.forEach((name, j) => {
      counters[`${head[1]}.${name}`] = numbers[j] ?? Number.NaN;
    });
    i++;
  }
  return counters;
}
