import { defineDebianMatrix } from './debian.ts';

// The Debian guest (systemd-networkd + systemd-resolved) with the iptables backend.
defineDebianMatrix('iptables');
