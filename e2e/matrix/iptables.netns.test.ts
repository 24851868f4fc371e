import { defineBackendMatrix } from './backend.ts';

// The whole issue-7 matrix with the iptables backend (shared with the other backend's file).
defineBackendMatrix('iptables');
