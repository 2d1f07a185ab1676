// @volt/sdk: what a volt driver plugin depends on. Kernel helpers: @volt/sdk/kernel; errors alone: @volt/sdk/errors; test kit: @volt/sdk/testing.
export * from './errors';
export * from './drivers/driver';
export * from './drivers/bridge';
export * from './drivers/firewall';
export * from './drivers/dns';
export * from './drivers/ingress';
export * from './drivers/vm-nic';
export * from './drivers/vm-nic-accel';
export * from './drivers/guest-dhcp';
export * from './di/token';
export type { HostContext, DriverTokens, RegisterDriversOptions } from './di/registration';
export type { RegisterDriversHook } from './di/hook';
export { voltPaths, type VoltPaths } from './paths';
export { driverTokens, kindOfToken, type DriverOf } from './di/tokens';
export { CAPABILITIES, capabilitiesOf, capabilityGaps, type Capability } from './capabilities';
export { SDK_VERSION, SDK_MAJOR, checkPluginSdk, type PluginManifest, type SdkCheck } from './version';
