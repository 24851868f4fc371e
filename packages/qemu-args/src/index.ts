export { type NetDeviceOptions, NIC_MODELS, type NicModel, netDevice } from './device.js';
export { InvalidQemuArgError, QemuArgSyntaxError, QemuArgsError } from './errors.js';
export {
  escapeOptionValue,
  type OptionPair,
  quoteSlirpArg,
  quoteSlirpCommand,
  splitOptionString,
  splitSlirpCommand,
} from './escape.js';
export { macFromSeed } from './mac.js';
export {
  type GuestForward,
  type HostForward,
  type StreamNetdevOptions,
  streamNetdev,
  type TapNetdevOptions,
  tapNetdev,
  type UserNetdevOptions,
  unixChardev,
  userNetdev,
} from './netdev.js';
export {
  type ParsedDevice,
  type ParsedNetdev,
  type ParsedStreamNetdev,
  type ParsedTapNetdev,
  type ParsedUserNetdev,
  parseDevice,
  parseNetdev,
} from './parse.js';
