// The demo (README command one, `./tapnet.sh demo`): inside a network namespace of its own, a
// pool of 2 networks, two test guests booted at once, each with its own metadata handler, and a
// table of what each guest could and could not reach. Then the pool is disposed and the
// namespace shown clean. Run directly by Node 24 (type stripping) inside the sandbox that
// tapnet.sh makes.
import { execFileSync } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:net';
import { sandboxSkipReason } from '@tapnet/testing/sandbox-guard';
import { type Network, nodeHandler, Pool } from 'tapnet';
import { buildGuest } from './guest/build.ts';
import {
  type ProbeResult,
  parseProbeResults,
  probeDns,
  probeHttp,
  probePing,
  probePing6,
  probeSh,
  probeTcp,
  scenario,
} from './src/probes.ts';
import { bootGuest, type GuestRun } from './src/qemu.ts';
import { scenarioListener } from './src/responders.ts';

const HOST_SERVICE_PORT = 8080;
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const log = (s: string) => process.stdout.write(`${s}\n`);

const notHere = sandboxSkipReason();
if (notHere !== undefined) {
  log(
    `The demo runs only inside its own network namespace (${notHere}): use \`./tapnet.sh demo\`.`,
  );
  process.exit(2);
}

function namespaceState(): {
  links: string[];
  nft: string;
  dnsmasq: string[];
  addresses: string[];
} {
  const out = (argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const dnsmasq = (() => {
    try {
      return out(['pgrep', '-x', 'dnsmasq']).trim().split('\n').filter(Boolean);
    } catch {
      return [];
    }
  })();
  return {
    links: out(['ip', '-o', 'link', 'show'])
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(':')[1]!.trim()),
    addresses: out(['ip', '-o', 'addr', 'show'])
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(/\s+/).slice(1, 4).join(' ')),
    nft: out(['nft', 'list', 'ruleset']).trim(),
    dnsmasq,
  };
}

/** A listener standing in for the host's other services, on every IPv4 and IPv6 address. */
async function hostService(host: string) {
  const server = createServer((socket) => socket.end('host service\n'));
  await new Promise<void>((resolve) =>
    server.listen({ port: HOST_SERVICE_PORT, host, ipv6Only: host === '::' }, resolve),
  );
  return server;
}

interface Guest {
  label: string;
  network: Network;
  secret: string;
  run?: GuestRun;
  probes?: Record<string, ProbeResult>;
  posted?: Promise<{ output: string }>;
}

async function main(): Promise<number> {
  const t0 = performance.now();
  const before = namespaceState();
  log(bold('tapnet demo') + ' — everything below happens in a fresh network namespace\n');
  log('building the test guest (cached after the first run)…');
  const image = await buildGuest();
  const services = [await hostService('0.0.0.0'), await hostService('::')];

  log('creating a pool of 2 networks…');
  const pool = await Pool.create({ size: 2 });
  let ok = true;
  try {
    const status = await pool.status();
    log(
      `pool ${pool.prefix}: firewall ${status.firewall.backend}, ` +
        (status.uplink
          ? `uplink ${status.uplink}`
          : 'no uplink in this namespace (nothing is forwarded)'),
    );
    const guests: Guest[] = ['A', 'B'].map((label) => ({
      label,
      network: pool.network(),
      secret: `secret-for-guest-${label}-${Math.random().toString(36).slice(2, 8)}`,
    }));
    for (const [i, g] of guests.entries()) {
      const other = guests[1 - i]!;
      // The scenario is made when the guest asks for it, so it can name the other guest's
      // address: by then both guests are booting and the other's lease is usually in.
      const protocol = scenarioListener('', {
        '/identity': `guest ${g.label}`,
        '/secret': g.secret,
      });
      g.posted = protocol.result;
      g.network.setHandler(
        nodeHandler(async (req: IncomingMessage, res: ServerResponse) => {
          if (req.url !== '/scenario') return protocol.listener(req, res);
          const peer = await waitForLease(other.network, 60_000);
          const spoofed = other.network.gateway.replace(/\.1$/, '.77');
          res.end(
            scenario(
              probeDns('taskcluster', 'taskcluster'),
              probeHttp('own-metadata', 'http://taskcluster/secret'),
              probePing('other-guest-ping', peer ?? other.network.gateway.replace(/\.1$/, '.2')),
              probeTcp('other-guest-tcp', peer ?? other.network.gateway.replace(/\.1$/, '.2'), 22),
              probeTcp('other-gateway', other.network.gateway, 53),
              // The other guest's metadata: the service answers by source subnet, so pose as a
              // member of the other network. The firewall drops the spoofed source.
              // Exit codes: 2/3 the spoof could not be set up (no evidence either way), 4 the
              // request got no answer (refused), 5 an answer without the secret, 0 the secret.
              probeSh(
                'other-metadata-spoofed',
                `ip addr add ${spoofed}/32 dev eth0 || exit 2; ` +
                  `ip route add 169.254.169.254/32 via ${g.network.gateway} src ${spoofed} || exit 3; ` +
                  `out=$(timeout 5 wget -q -O - http://169.254.169.254/secret); r=$?; ` +
                  `ip route del 169.254.169.254/32; ip addr del ${spoofed}/32 dev eth0; ` +
                  `[ $r -eq 0 ] || exit 4; echo "$out" | grep -q ${other.secret} || exit 5`,
              ),
              probeTcp('host-service', g.network.gateway, HOST_SERVICE_PORT),
              probePing6('host-ipv6', 'ff02::1%eth0'),
            ),
          );
        }),
      );
    }

    log('booting guests A and B at once (QEMU, TCG)…');
    await Promise.all(
      guests.map(async (g) => {
        g.run = await bootGuest({
          image,
          name: `demo-${g.label}`,
          mode: 'dhcp',
          netArgs: g.network.qemuArgs('n0'),
          timeoutMs: 180_000,
        });
        const posted = await Promise.race([
          g.posted,
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000)),
        ]);
        g.probes = parseProbeResults(posted?.output ?? g.run.output);
      }),
    );

    const rows: [string, (g: Guest) => { text: string; pass: boolean }][] = [
      [
        'DHCP lease (own subnet)',
        (g) => {
          const lease = g.run?.markers.find((m) => m.event === 'lease')?.fields;
          const inSubnet = lease?.ip?.startsWith(g.network.gateway.replace(/\.1$/, '.')) ?? false;
          return {
            text: lease ? `${lease.ip} via ${lease.router}` : 'none',
            pass: inSubnet && lease?.router === g.network.gateway,
          };
        },
      ],
      [
        'taskcluster resolves to',
        (g) => {
          const r = g.probes?.taskcluster;
          return {
            text: r?.fields.addrs ?? r?.verdict ?? '—',
            pass: r?.fields.addrs === '169.254.169.254',
          };
        },
      ],
      [
        'its own metadata',
        (g) => {
          const r = g.probes?.['own-metadata'];
          return {
            text: r?.verdict === 'ok' ? `got ${r.data?.trim()}` : (r?.verdict ?? '—'),
            pass: r?.data?.trim() === g.secret,
          };
        },
      ],
      ...(
        [
          'other-guest-ping',
          'other-guest-tcp',
          'other-gateway',
          'other-metadata-spoofed',
          'host-service',
          'host-ipv6',
        ] as const
      ).map((name): [string, (g: Guest) => { text: string; pass: boolean }] => [
        {
          'other-guest-ping': 'other guest (ping)',
          'other-guest-tcp': 'other guest (TCP)',
          'other-gateway': "other network's gateway",
          'other-metadata-spoofed': "other guest's metadata",
          'host-service': `host service :${HOST_SERVICE_PORT}`,
          'host-ipv6': 'host over IPv6 (ping6 ff02::1)',
        }[name],
        (g) => {
          const r = g.probes?.[name];
          const reached = r?.verdict === 'ok' && (name !== 'host-ipv6' || Boolean(r.fields.from));
          // A spoofed request that could not even be set up proves nothing.
          const inconclusive = name === 'other-metadata-spoofed' && r?.verdict !== 'exit-4';
          const text = !r
            ? '—'
            : reached
              ? `REACHED (${r.verdict})`
              : inconclusive
                ? `inconclusive (${r.verdict})`
                : `refused (${r.verdict})`;
          return { text, pass: r !== undefined && !reached && !inconclusive };
        },
      ]),
    ];
    const table: string[][] = [
      ['', ...guests.map((g) => `guest ${g.label} (${g.network.name}, ${g.network.subnet})`)],
    ];
    for (const [label, cell] of rows) {
      const cells = guests.map((g) => cell(g));
      ok &&= cells.every((c) => c.pass);
      table.push([label, ...cells.map((c) => `${c.pass ? '✔' : '✘'} ${c.text}`)]);
    }
    const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
    log('');
    for (const [i, row] of table.entries()) {
      const line = row.map((c, j) => c.padEnd(widths[j]!)).join('   ');
      log(i === 0 ? bold(line) : line);
    }
    log('');
    for (const g of guests) {
      log(
        `guest ${g.label}: ${((g.run?.durationMs ?? 0) / 1000).toFixed(1)} s from QEMU start to power-off (${g.run?.accel}); serial log ${g.run?.logFile}`,
      );
    }
    for (const g of guests) g.network.release();
  } finally {
    await pool.dispose();
    for (const s of services) s.close();
  }

  const after = namespaceState();
  const clean =
    JSON.stringify(after.links) === JSON.stringify(before.links) &&
    JSON.stringify(after.addresses) === JSON.stringify(before.addresses) &&
    after.nft === before.nft &&
    after.dnsmasq.length === 0;
  log(
    `\npool disposed: links now [${after.links.join(', ')}], ` +
      `firewall rules ${after.nft === '' ? 'none' : 'PRESENT'}, dnsmasq ${after.dnsmasq.length === 0 ? 'stopped' : 'STILL RUNNING'}` +
      ` → namespace ${clean ? 'clean' : 'NOT clean'}`,
  );
  log(
    `\n${ok && clean ? bold('demo passed') : bold('demo FAILED')} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return ok && clean ? 0 : 1;
}

async function waitForLease(network: Network, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const lease = network.released ? undefined : network.lease;
    if (lease) return lease.ip;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
