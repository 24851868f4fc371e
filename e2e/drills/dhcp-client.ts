// A minimal DHCP client for the noisy-neighbour drill's agents: DISCOVER → OFFER → REQUEST →
// ACK for any MAC (its own for a well-behaved VM, made-up ones for the starvation attack), on
// one socket bound to 0.0.0.0:68 with the broadcast flag set in every request, so the server
// broadcasts its answers and a made-up MAC's reply reaches us too.
import { createSocket, type Socket } from 'node:dgram';
import { DHCP, dhcpRequest, readDhcpReply } from './noisy-packets.ts';

interface Pending {
  mac: string;
  onOffer?: (yiaddr: string, serverId: string | undefined) => void;
  settle: (error: Error | undefined, ip?: string) => void;
  timer: NodeJS.Timeout;
}

export interface DhcpEvents {
  /** An OFFER arrived for one of our transactions. */
  offer?(): void;
  request?(): void;
}

export class DhcpClient {
  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  readonly #events: DhcpEvents;

  private constructor(socket: Socket, events: DhcpEvents) {
    this.#socket = socket;
    this.#events = events;
    socket.on('message', (message) => this.#onMessage(message));
    socket.on('error', () => {});
  }

  static async open(events: DhcpEvents = {}): Promise<DhcpClient> {
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve) => socket.bind(68, '0.0.0.0', resolve));
    socket.setBroadcast(true);
    return new DhcpClient(socket, events);
  }

  /** Resolves with the address ACKed for `mac`; rejects on a NAK or after `timeoutMs`. */
  lease(mac: string, timeoutMs = 30_000): Promise<string> {
    const xid = Math.floor(Math.random() * 2 ** 32);
    return new Promise<string>((resolve, reject) => {
      const pending: Pending = {
        mac,
        settle: (error, ip) => {
          clearTimeout(pending.timer);
          this.#pending.delete(xid);
          if (error) reject(error);
          else resolve(ip ?? '');
        },
        timer: setTimeout(
          () => pending.settle(new Error(`no DHCP ACK for ${mac} within ${timeoutMs} ms`)),
          timeoutMs,
        ),
      };
      pending.onOffer = (yiaddr, serverId) => {
        pending.onOffer = undefined; // the first offer is taken, later ones ignored
        this.#events.request?.();
        this.#send(
          dhcpRequest({
            type: DHCP.REQUEST,
            xid,
            mac,
            requestedIp: yiaddr,
            ...(serverId ? { serverId } : {}),
          }),
        );
      };
      this.#pending.set(xid, pending);
      this.#send(dhcpRequest({ type: DHCP.DISCOVER, xid, mac }));
    });
  }

  /** Transactions still waiting for an answer. */
  get pending(): number {
    return this.#pending.size;
  }

  close(): void {
    for (const pending of this.#pending.values()) pending.settle(new Error('closed'));
    this.#socket.close();
  }

  #send(packet: Buffer) {
    this.#socket.send(packet, 67, '255.255.255.255');
  }

  #onMessage(message: Buffer) {
    const reply = readDhcpReply(message);
    if (!reply) return;
    const pending = this.#pending.get(reply.xid);
    if (!pending || pending.mac !== reply.mac) return;
    if (reply.type === DHCP.OFFER) {
      if (pending.onOffer) this.#events.offer?.();
      pending.onOffer?.(reply.yiaddr, reply.serverId);
    } else if (reply.type === DHCP.ACK) pending.settle(undefined, reply.yiaddr);
    else if (reply.type === DHCP.NAK) pending.settle(new Error(`DHCP NAK for ${pending.mac}`));
  }
}
