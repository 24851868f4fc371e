export { sandboxSkipReason, describeNetns, assertInSandbox } from './sandbox.js';
export { createNetns, withNetns, type Netns } from './netns.js';
export { createVethPeer, type VethPeer, type VethPeerOptions } from './veth.js';
export { waitFor, type WaitForOptions } from './wait.js';
export { run, runOk, type RunResult } from './run.js';
export { snapshotNamespace, type NamespaceState } from './state.js';
