// Kernel helpers a driver may use: running programs, iproute2 reads and batches, VLAN links.
export * from './exec';
export * from './ip';
export * from './vlan';
export * from './bridge-spec-check';
export * from './netns';
export * from './link-gone';
export * from './veth';
export * from './nft';
export * from './names';
