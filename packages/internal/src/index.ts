export {
  type AtomicWriteOptions,
  ensureRegularFileSync,
  temporaryName,
  writeFileAtomic,
  writeFileAtomicSync,
} from './atomic-write.js';
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
