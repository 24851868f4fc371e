// The guest section: boots to the first metadata request, the Debian guest, DHCP and DNS.
import type { BenchRecord, GuestResult, SampleStats } from '../results.ts';
import { fmt, renderFailed, resultOf, table } from './format.ts';

export function renderGuest(record: BenchRecord | undefined): string {
  const r = resultOf<GuestResult>(record);
  if (!r) return renderFailed(record);
  const out: string[] = [];
  if (r.boots) {
    const m = r.boots.median;
    out.push(
      `**Boot to first metadata answer**, median of ${r.boots.count} boot(s) of the e2e test guest under ${r.boots.accel.toUpperCase()}, virtio-net on a facade pool's TAP; times from QEMU's start. Baseline in the same run: the same guest without a NIC.\n`,
    );
    out.push(
      table(
        ['milestone', 'median', 'runs'],
        [
          [
            'baseline (no NIC): `init reached`',
            `${fmt(m.baselineInitMs)} ms`,
            r.boots.baseline.map((b) => fmt(b.initMs)).join(', '),
          ],
          [
            '`init reached` (kernel booted)',
            `${fmt(m.initMs)} ms`,
            r.boots.runs.map((b) => fmt(b.initMs)).join(', '),
          ],
          [
            'NIC up (drivers loaded)',
            `${fmt(m.nicMs)} ms`,
            r.boots.runs.map((b) => fmt(b.nicMs)).join(', '),
          ],
          [
            'DHCP lease (udhcpc bound)',
            `${fmt(m.leaseMs)} ms`,
            r.boots.runs.map((b) => fmt(b.leaseMs)).join(', '),
          ],
          [
            '`taskcluster` resolved',
            `${fmt(m.dnsMs)} ms`,
            r.boots.runs.map((b) => fmt(b.dnsMs)).join(', '),
          ],
          [
            '**first metadata request at the handler**',
            `**${fmt(m.firstMetadataRequestMs)} ms**`,
            r.boots.runs.map((b) => fmt(b.firstMetadataRequestMs)).join(', '),
          ],
        ],
      ),
    );
    out.push(
      `\nFrom \`init reached\` to the first metadata request: ${fmt(m.initToFirstRequestMs)} ms (median), of which NIC up → lease ${fmt(m.nicToLeaseMs)} ms; the rest is the guest loading drivers under TCG and running its tools. Console markers are timestamped when the host reads them.`,
    );
  } else {
    out.push('Guest boots were not run.');
  }
  if (r.debian) {
    const d = r.debian;
    const mib = (bytes: number) => `${fmt(bytes / 1048576, 0)} MiB`;
    out.push(
      `\n**A stock distribution: the Debian guest** (bookworm from Debian's packages: systemd-networkd for DHCP, systemd-resolved as resolver; root filesystem ${mib(d.rootfsBytes)}, initramfs ${mib(d.initrdBytes)}), median of ${d.count} boot(s) under ${d.accel.toUpperCase()} on a facade pool's TAP, times from QEMU's start. Its scenario is fetched ${d.byName ? 'by name (`http://taskcluster/…`, resolved answering over LLMNR)' : 'from the metadata IP'}; the busybox rows above are the same run's comparison.\n`,
    );
    out.push(
      table(
        ['milestone', 'median', 'runs'],
        [
          [
            '**first metadata request at the handler**',
            `**${fmt(d.median.firstMetadataRequestMs)} ms**`,
            d.runs.map((b) => fmt(b.firstMetadataRequestMs)).join(', '),
          ],
          [
            'powered off',
            `${fmt(d.median.exitMs)} ms`,
            d.runs.map((b) => fmt(b.exitMs)).join(', '),
          ],
        ],
      ),
    );
  }
  if (r.dhcp) {
    const row = (label: string, s: SampleStats) => [
      label,
      fmt(s.samples),
      `${fmt(s.p50Ms, 1)} ms`,
      `${fmt(s.p99Ms, 1)} ms`,
      `${fmt(s.minMs, 1)} ms`,
      `${fmt(s.maxMs, 1)} ms`,
    ];
    out.push(
      '\n**DHCP, host side**: tapnet\'s dnsmasq (a pool\'s config) and nft firewall, a veth peer in a namespace as the VM running `busybox udhcpc`; times from udhcpc\'s own log lines as the host reads them ("discover", "select for" = offer received, "lease of … obtained").\n',
    );
    out.push(
      table(
        ['interval', 'samples', 'p50', 'p99', 'min', 'max'],
        [
          ...(r.dhcp.newMacOffer
            ? [
                row('discover → offer, new MAC each time', r.dhcp.newMacOffer),
                ...(r.dhcp.knownMacOffer
                  ? [row('discover → offer, same MAC again', r.dhcp.knownMacOffer)]
                  : []),
              ]
            : []),
          row('discover → lease, new MAC each time (new address)', r.dhcp.newMac),
          row('discover → lease, same MAC again', r.dhcp.knownMac),
          row('udhcpc process start → lease, new MAC', r.dhcp.newMacWithProcessStart),
        ],
      ),
    );
    out.push(
      "\nThe time includes udhcpc's own work and both DHCP round trips (discover/offer, request/ack); there is no separate baseline DHCP server in this run.",
    );
  }
  if (r.dns) {
    const row = (label: string, s: SampleStats) => [
      label,
      fmt(s.samples),
      `${fmt(s.p50Ms * 1000)} µs`,
      `${fmt(s.p99Ms * 1000)} µs`,
      `${fmt(s.maxMs * 1000)} µs`,
      fmt(s.errors),
    ];
    out.push(
      "\n**DNS, host side**: A queries for `taskcluster`, one at a time with node:dgram from the VM's namespace (through the veth and the firewall) to its gateway; baseline: a node:dgram responder with a canned answer on that namespace's loopback, queried by the same client, alternating in blocks of 100.\n",
    );
    out.push(
      table(
        ['server', 'queries', 'p50', 'p99', 'max', 'errors'],
        [
          row('tapnet dnsmasq on the gateway', r.dns.dnsmasq),
          row('baseline: canned answer on loopback', r.dns.baseline),
        ],
      ),
    );
  }
  return out.join('\n');
}
