import { createSocket } from 'node:dgram';
import { execa } from 'execa';
import type { DnsResponse } from './dns-message.js';
import { queryDns, queryDnsMany } from './dns-query.js';
import { udpListeners } from './listeners.js';

export interface ChildExit {
  exitCode: number | undefined;
  signal: string | undefined;
  /** Set when the process could not be started at all (e.g. `spawn dnsmasq ENOENT`). */
  failure?: string;
}

export interface ChildProcess {
  readonly pid: number | undefined;
  /** Resolves (never rejects) once the process has exited. */
  readonly exited: Promise<ChildExit>;
  kill(signal: NodeJS.Signals): void;
  /** stdout and stderr text as it arrives. */
  onOutput(listener: (text: string) => void): void;
}

/** Everything this package does to the OS besides files, injectable for tests. */
export interface Runner {
  spawn(file: string, args: readonly string[]): ChildProcess;
  queryDns(server: string, name: string, type: number, timeoutMs: number): Promise<DnsResponse>;
  /**
   * Asks every server the same question from one socket; the answers by server (one that did
   * not answer within `timeoutMs` is missing). Optional: without it each server gets its own
   * `queryDns`, which is what test runners written before it existed do.
   */
  queryDnsMany?(
    servers: readonly string[],
    name: string,
    type: number,
    timeoutMs: number,
  ): Promise<Map<string, DnsResponse>>;
  /**
   * The IPv4 addresses process `pid` has a UDP socket bound to on `port`. Optional: without it
   * readiness asks every gateway a DNS question instead.
   */
  udpListeners?(pid: number, port: number): Promise<Set<string>>;
  /**
   * Hands DHCP messages to the server of the network whose gateway is `gateway`, as if they
   * came in on that network's device (see `sendDhcpOnDevice`). Optional for test runners
   * written before it existed: the real one is used then.
   */
  sendDhcp?(gateway: string, messages: readonly Buffer[]): Promise<void>;
}

/**
 * Sends `messages` from `gateway` to 255.255.255.255:67. A socket bound to an interface's
 * address sends limited broadcasts out of that interface, and the kernel loops a copy of each
 * broadcast back up its own stack as received *on that interface*: dnsmasq (listening on
 * 0.0.0.0:67, reading the arrival interface from IP_PKTINFO) takes it for a message from that
 * network. One socket in this process, no helper process (dnsmasq's own `dhcp_release` needs
 * SO_BINDTODEVICE, which Node cannot set, and is one process per lease).
 */
export async function sendDhcpOnDevice(
  gateway: string,
  messages: readonly Buffer[],
): Promise<void> {
  // From port 68, as a client's would be: a firewall that admits DHCP from a VM's TAP
  // (`udp sport 68 dport 67`) admits the looped-back copy too. Shared with a host DHCP client
  // that may hold 0.0.0.0:68; bound to the gateway, no broadcast reply is delivered to it.
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: gateway, port: 68, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.setBroadcast(true);
    for (const message of messages) {
      await new Promise<void>((resolve, reject) =>
        socket.send(message, 67, '255.255.255.255', (error) => (error ? reject(error) : resolve())),
      );
    }
  } finally {
    try {
      socket.close();
    } catch {
      // never bound: nothing to close
    }
  }
}

export const defaultRunner: Runner = {
  spawn(file, args) {
    const child = execa(file, args, {
      reject: false,
      buffer: false,
      stdin: 'ignore',
      // Killed with us if this process exits without stop().
      cleanup: true,
    });
    const listeners: ((text: string) => void)[] = [];
    const forward = (chunk: Buffer | string) => {
      const text = chunk.toString();
      for (const listener of listeners) listener(text);
    };
    child.stdout?.on('data', forward);
    child.stderr?.on('data', forward);
    const exited = child.then(
      (result) => {
        const exit: ChildExit = { exitCode: result.exitCode, signal: result.signal };
        if (result.failed && result.exitCode === undefined && !result.signal)
          exit.failure = result.shortMessage;
        return exit;
      },
      (error: unknown) => ({ exitCode: undefined, signal: undefined, failure: String(error) }),
    );
    return {
      get pid() {
        return child.pid;
      },
      exited,
      kill(signal) {
        child.kill(signal);
      },
      onOutput(listener) {
        listeners.push(listener);
      },
    };
  },
  queryDns(server, name, type, timeoutMs) {
    return queryDns(server, name, type, { timeoutMs });
  },
  queryDnsMany(servers, name, type, timeoutMs) {
    return queryDnsMany(servers, name, type, { timeoutMs });
  },
  udpListeners,
  sendDhcp: sendDhcpOnDevice,
};
