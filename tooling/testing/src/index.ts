export { createInternet, UPLINK } from './internet.js';
export { askLlmnr, type LlmnrAnswer, type LlmnrAskResult } from './llmnr-client.js';
export { createNetns, type Netns, withNetns } from './netns.js';
export { type RunResult, run, runOk } from './run.js';
export { assertInSandbox, describeNetns, sandboxSkipReason } from './sandbox.js';
export {
  diffNamespaceState,
  type HostState,
  type NamespaceState,
  snapshotHost,
  snapshotNamespace,
} from './snapshot.js';
export {
  clientAddress,
  createTapPeer,
  type HttpClient,
  type HttpGetOptions,
  type HttpReply,
  startHttpClient,
  type TapPeer,
  type TapPeerOptions,
  tapWire,
} from './tap-client.js';
export { createVethPeer, type VethPeer, type VethPeerOptions } from './veth.js';
export { type WaitForOptions, waitFor } from './wait.js';
