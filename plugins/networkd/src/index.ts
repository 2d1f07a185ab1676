export { NetworkdBridge, type NetworkdBridgeOptions } from './networkd-bridge';
export { bridgeUnitNames, renderBridgeUnits, unitHeader, type BridgeUnits, type UnitFile, type UnitOptions } from './units';
export { parseLinkStatus, parseSystemdVersion, type NetworkdLinkState } from './networkctl';
