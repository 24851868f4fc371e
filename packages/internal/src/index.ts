export {
  type AtomicWriteOptions,
  ensureRegularFileSync,
  temporaryName,
  writeFileAtomic,
  writeFileAtomicSync,
} from './atomic-write.js';
export { clip, MESSAGE_OUTPUT_CHARS } from './clip.js';
export { type ErrorFamily, errorBrand, errorFamily } from './errors.js';
export {
  type Cidr,
  contains,
  formatCidr,
  formatIPv4,
  isIPv4,
  LOOPBACK,
  lastOf,
  maskOf,
  overlaps,
  type ParsedCidr,
  parseCidr,
  parseIPv4,
  sizeOf,
} from './ipv4.js';
export {
  type CountingRunner,
  countingRunner,
  createRunner,
  EXIT_NOT_STARTED,
  EXIT_TIMED_OUT,
  type Execa,
  exitCodeOf,
  type RecordedCall,
  type RecordingRunner,
  RUN_TIMEOUT_MS,
  type Runner,
  type RunOptions,
  type RunResult,
  recordingRunner,
  runChecked,
} from './run.js';
export {
  checkFolderChain,
  currentIdentity,
  describeUnsafeFolder,
  ensureSecureFolder,
  type FolderStats,
  folderProblem,
  type Identity,
  type UnsafeFolder,
} from './secure-folder.js';
export {
  type Checks,
  checks,
  describeValue,
  expectedMessage,
  type Fail,
  firstUnknownKey,
  isIntegerIn,
  isPlainObject,
  nullPrototypeCopy,
} from './validate.js';
export { isExecutableFile, type WhichOptions, which } from './which.js';
