export {
  type Bridge,
  type BridgeChoice,
  type BridgeLookup,
  bridgeCommand,
  findBridge,
  realLookup,
} from './bridge.js';
export {
  BridgeNotFoundError,
  InvalidOptionError,
  ReleasedError,
  SocketInUseError,
  UnsafeFolderError,
  UserNetworkError,
} from './errors.js';
export { unsafeFolderReason } from './folder.js';
export { DEFAULTS, type UserNetworkOptions } from './options.js';
export { USER_NETWORK_NAME, UserNetwork } from './user-network.js';
