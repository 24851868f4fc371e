// The baseline: the original Go package's setup replayed as it ran it, one process per command
// (a TAP, its address and link, 4 chains and their rules, NAT), then its teardown, also one
// process per command. Built from the description in shared/reference/original-behaviour.md;
// only the numbering differs past the original's cap of 100 networks (10.150+.x.0/24 instead of
// 192.168.150+x.0/24), which does not change the work done.
import { execFile } from 'node:child_process';

const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '169.254.0.0/16', '192.168.0.0/16'];
const METADATA = '169.254.169.254';

function subnetOf(i: number): { net: string; gw: string } {
  return i < 100
    ? { net: `192.168.${150 + i}.0/24`, gw: `192.168.${150 + i}.1` }
    : { net: `10.${150 + (i >> 8)}.${i & 255}.0/24`, gw: `10.${150 + (i >> 8)}.${i & 255}.1` };
}

export function originalSetup(n: number, uplink: string): string[][] {
  const cmds: string[][] = [['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']];
  for (let i = 0; i < n; i++) {
    const tap = `tctap${i}`;
    const { net, gw } = subnetOf(i);
    const [cin, cout, fout, fin] = [`${tap}-in`, `${tap}-out`, `${tap}-fo`, `${tap}-fi`];
    const ipt = (...a: string[]) => cmds.push(['iptables', '-w', ...a]);
    // One iptables rule as the original wrote it (no argument holds a space).
    const rule = (text: string) => ipt(...text.split(' '));
    cmds.push(['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    cmds.push(['ip', 'addr', 'add', `${gw}/24`, 'dev', tap]);
    cmds.push(['ip', 'link', 'set', 'dev', tap, 'up']);
    for (const c of [cin, cout, fout, fin]) ipt('-N', c);
    ipt('-A', 'INPUT', '-i', tap, '-j', cin);
    ipt('-A', 'OUTPUT', '-o', tap, '-j', cout);
    ipt('-A', 'FORWARD', '-i', tap, '-j', fout);
    ipt('-A', 'FORWARD', '-o', tap, '-j', fin);
    ipt('-A', cin, '-p', 'tcp', '-s', net, '-d', METADATA, '--dport', '80', '-j', 'ACCEPT');
    ipt('-A', cin, '-p', 'udp', '-s', net, '-d', gw, '--dport', '53', '-j', 'ACCEPT');
    ipt('-A', cin, '-p', 'tcp', '-s', net, '-d', gw, '--dport', '53', '-j', 'ACCEPT');
    rule(`-A ${cin} -p udp -s 0.0.0.0 -d 255.255.255.255 --sport 68 --dport 67 -j ACCEPT`);
    rule(`-A ${cin} -p udp -s ${net} -d ${gw} --sport 68 --dport 67 -j ACCEPT`);
    ipt('-A', cin, '-d', METADATA, '-j', 'REJECT', '--reject-with', 'icmp-port-unreachable');
    ipt('-A', cin, '-j', 'REJECT', '--reject-with', 'icmp-host-unreachable');
    rule(
      `-A ${cout} -p tcp -s ${METADATA} --sport 80 -d ${net} -m state --state ESTABLISHED -j ACCEPT`,
    );
    rule(`-A ${cout} -p udp -s ${gw} --sport 53 -d ${net} -m state --state ESTABLISHED -j ACCEPT`);
    rule(`-A ${cout} -p tcp -s ${gw} --sport 53 -d ${net} -m state --state ESTABLISHED -j ACCEPT`);
    ipt('-A', cout, '-p', 'udp', '-s', gw, '--sport', '67', '--dport', '68', '-j', 'ACCEPT');
    ipt('-A', cout, '-j', 'REJECT');
    for (const p of PRIVATE) ipt('-A', fout, '-d', p, '-j', 'REJECT');
    ipt('-A', fout, '-s', net, '-o', uplink, '-j', 'ACCEPT');
    ipt('-A', fout, '-j', 'DROP');
    for (const p of PRIVATE) ipt('-A', fin, '-s', p, '-j', 'DROP');
    rule(`-A ${fin} -i ${uplink} -d ${net} -m state --state RELATED,ESTABLISHED -j ACCEPT`);
    ipt('-A', fin, '-j', 'DROP');
    ipt('-t', 'nat', '-A', 'POSTROUTING', '-s', net, '-o', uplink, '-j', 'MASQUERADE');
  }
  return cmds;
}

export function originalTeardown(n: number, uplink: string): string[][] {
  const cmds: string[][] = [];
  for (let i = 0; i < n; i++) {
    const tap = `tctap${i}`;
    const { net } = subnetOf(i);
    const [cin, cout, fout, fin] = [`${tap}-in`, `${tap}-out`, `${tap}-fo`, `${tap}-fi`];
    const ipt = (...a: string[]) => cmds.push(['iptables', '-w', ...a]);
    ipt('-D', 'INPUT', '-i', tap, '-j', cin);
    ipt('-D', 'OUTPUT', '-o', tap, '-j', cout);
    ipt('-D', 'FORWARD', '-i', tap, '-j', fout);
    ipt('-D', 'FORWARD', '-o', tap, '-j', fin);
    for (const c of [cin, cout, fout, fin]) ipt('-F', c);
    for (const c of [cin, cout, fout, fin]) ipt('-X', c);
    ipt('-t', 'nat', '-D', 'POSTROUTING', '-s', net, '-o', uplink, '-j', 'MASQUERADE');
    cmds.push(['ip', 'link', 'del', 'dev', tap]);
  }
  return cmds;
}

function runOne(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), (error, _stdout, stderr) => {
      if (error) reject(new Error(`${argv.join(' ')}: ${stderr || error.message}`));
      else resolve();
    });
  });
}

/** Runs the commands one process at a time, as the original did. */
export async function replay(cmds: string[][]): Promise<number> {
  for (const argv of cmds) await runOne(argv);
  return cmds.length;
}
