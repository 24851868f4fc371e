import { defineDebianMatrix } from './debian.ts';

// The Debian guest (systemd-networkd + systemd-resolved) with the nft backend.
defineDebianMatrix('nft');
