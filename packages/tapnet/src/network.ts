import type { Lease } from '@tapnet/dhcp-dns';
import type { FetchHandler, MetadataHandler } from '@tapnet/metadata-proxy';
import { macFromSeed, NIC_MODELS, type NicModel, netDevice, tapNetdev } from '@tapnet/qemu-args';
import type { NetworkPlan, NormalizedTrafficLimits } from '@tapnet/tap-pool';
import { InvalidOptionError, ReleasedError } from './errors.js';
import type { NetworkLimits } from './limits.js';

/** What a network needs from its pool; kept narrow so a Network cannot reach other networks. */
export interface NetworkHost {
  setHandler(handler: MetadataHandler): void;
  lease(): Lease | undefined;
  release(): void;
  /** True once the network was handed to a next holder after this handle's release. */
  heldByAnother(): boolean;
  /** The traffic limits in force on this network. */
  limits(): NormalizedTrafficLimits;
  /** Lays `limits` over the pool's default and puts them in force. */
  setLimits(limits: NetworkLimits): Promise<void>;
}

/**
 * One VM's network, handed out by `Pool.network()` / `Pool.acquire()` until `release()`.
 * After release every method but `release()` throws `ReleasedError`: the network may already
 * belong to another VM (the error then says this handle is stale).
 */
export class Network implements AsyncDisposable {
  readonly #plan: NetworkPlan;
  readonly #host: NetworkHost;
  readonly #mac: string;
  #released = false;

  constructor(plan: NetworkPlan, host: NetworkHost) {
    this.#plan = plan;
    this.#host = host;
    this.#mac = macFromSeed(plan.macSeed);
  }

  /** The TAP device's name. */
  get name(): string {
    return this.#plan.device;
  }

  get subnet(): string {
    return this.#plan.subnet;
  }

  /** The host's address on the TAP: the guest's router and DNS server. */
  get gateway(): string {
    return this.#plan.gateway;
  }

  /** The MAC address `qemuArgs()` gives the guest's NIC. */
  get mac(): string {
    return this.#mac;
  }

  /** The guest's DHCP lease, once it took one after this network was handed out. */
  get lease(): Lease | undefined {
    this.#assertLive();
    return this.#host.lease();
  }

  get released(): boolean {
    return this.#released;
  }

  /** The traffic limits in force (rates in bits/s, bursts in bytes; a missing key: unlimited). */
  get limits(): NormalizedTrafficLimits {
    this.#assertLive();
    return this.#host.limits();
  }

  /**
   * Changes this VM's traffic limits, laid over the pool's default (`null`: none in that
   * direction); in force when the promise resolves (one `tc` process). Invalid limits change
   * nothing; a failure puts the previous limits back. Release puts the pool's default back.
   */
  async setLimits(limits: NetworkLimits): Promise<void> {
    this.#assertLive();
    await this.#host.setLimits(limits);
  }

  /** The value for QEMU's `-netdev`: `tap,id=<id>,ifname=<tap>,script=no,downscript=no`. */
  netdev(id: string): string {
    this.#assertLive();
    return tapNetdev({ id, ifname: this.#plan.device });
  }

  /** `-netdev` and `-device` arguments, the NIC carrying this network's MAC. */
  qemuArgs(id: string, options: { model?: NicModel } = {}): string[] {
    this.#assertLive();
    const model = options.model ?? NIC_MODELS[0];
    // The models are @tapnet/qemu-args's; the error is the facade's, naming the facade's option.
    if (!(NIC_MODELS as readonly unknown[]).includes(model)) {
      throw new InvalidOptionError(
        'model',
        `Expected \`model\` to be ${NIC_MODELS.map((m) => `'${m}'`).join(' or ')}, got \`${String(model)}\``,
      );
    }
    return [
      '-netdev',
      this.netdev(id),
      '-device',
      netDevice({ model, netdev: id, mac: this.#mac }),
    ];
  }

  /**
   * The handler that answers this network's VM on the metadata IP: a fetch-style function
   * `(request, ctx) => Response`, `nodeHandler((req, res, ctx) => …)`, `{ fetch }` or
   * `{ forward: url }`.
   */
  setHandler(handler: FetchHandler): void;
  setHandler(handler: MetadataHandler): void;
  setHandler(handler: MetadataHandler): void {
    this.#assertLive();
    this.#host.setHandler(handler);
  }

  /** Clears the handler, cuts the VM's open metadata connections and returns the network. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#host.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }

  #assertLive(): void {
    if (!this.#released) return;
    const device = this.#plan.device;
    throw new ReleasedError(
      `Network ${device}`,
      this.#host.heldByAnother() ? { heldByAnother: device } : {},
    );
  }
}
