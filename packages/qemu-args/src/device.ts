import { describeValue } from '@tapnet/internal';
import { InvalidQemuArgError } from './errors.js';
import { copyOptions, validateId, validateMac } from './validate.js';

export const NIC_MODELS = ['virtio-net-pci', 'e1000'] as const;
export type NicModel = (typeof NIC_MODELS)[number];

export interface NetDeviceOptions {
  model: NicModel;
  /** The id of the `-netdev` this NIC is attached to. */
  netdev: string;
  /** Unicast MAC; written lower-case. */
  mac?: string;
  id?: string;
}

export function normalizeNetDeviceOptions(options: unknown): NetDeviceOptions {
  const o = copyOptions(options, 'options', ['model', 'netdev', 'mac', 'id']);
  const result = Object.create(null) as NetDeviceOptions;
  if (!(NIC_MODELS as readonly unknown[]).includes(o.model)) {
    throw new InvalidQemuArgError(
      `Expected \`model\` to be one of ${NIC_MODELS.map((m) => `\`${m}\``).join(', ')}, got ${describeValue(o.model)}`,
      'model',
    );
  }
  result.model = o.model as NicModel;
  result.netdev = validateId(o.netdev, 'netdev');
  if (o.mac !== undefined) result.mac = validateMac(o.mac, 'mac');
  if (o.id !== undefined) result.id = validateId(o.id, 'id');
  return result;
}

/** `-device` value for a NIC: `virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,id=nic0`. */
export function netDevice(options: NetDeviceOptions): string {
  const o = normalizeNetDeviceOptions(options);
  let value = `${o.model},netdev=${o.netdev}`;
  if (o.mac !== undefined) value += `,mac=${o.mac}`;
  if (o.id !== undefined) value += `,id=${o.id}`;
  return value;
}
