// One DHCP exchange by `busybox udhcpc` on eth0 of a namespace, timed from udhcpc's own log
// lines as they are read: discover → offer ("select for"), discover → lease, process start → lease.
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** One udhcpc run; times from its "sending/broadcasting discover" line to "lease ... obtained". */
export interface Udhcpc {
  discoverToOffer: number;
  discoverToLease: number;
  processToLease: number;
  ip: string | undefined;
}
export function runUdhcpc(netns: string, mac: string, script: string): Promise<Udhcpc> {
  return new Promise<Udhcpc>((resolve, reject) => {
    execFileSync('ip', ['-n', netns, 'link', 'set', 'eth0', 'address', mac]);
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns,
        'busybox',
        'udhcpc',
        '-i',
        'eth0',
        '-f',
        '-q',
        '-n',
        '-t',
        '5',
        '-T',
        '2',
        '-s',
        script,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const spawned = performance.now();
    let discover: number | undefined;
    let lease: number | undefined;
    let offer: number | undefined;
    let ip: string | undefined;
    const log: string[] = [];
    const onLine = (line: string) => {
      const at = performance.now();
      log.push(line);
      if (discover === undefined && /discover/.test(line)) discover = at;
      // udhcpc logs "sending select for ..." as soon as it has the offer.
      if (offer === undefined && /select for/.test(line)) offer = at;
      const m = /lease of (\S+) obtained/.exec(line);
      if (m) {
        lease = at;
        ip = m[1];
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.on('exit', (code) => {
      if (code !== 0 || discover === undefined || lease === undefined || offer === undefined) {
        reject(new Error(`udhcpc exited ${code}: ${log.join(' | ')}`));
      } else {
        resolve({
          discoverToOffer: offer - discover,
          discoverToLease: lease - discover,
          processToLease: lease - spawned,
          ip,
        });
      }
    });
  });
}
