export { NetworkdBridge, type NetworkdBridgeOptions } from './networkd-bridge';
export { NetworkdTap, type NetworkdTapOptions } from './networkd-tap';
export { NetworkdDhcp } from './networkd-dhcp';
export {
  bridgeUnitNames,
  dhcpDropinNames,
  renderBridgeUnits,
  renderDhcpDropin,
  renderTapUnits,
  tapUnitNames,
  unitHeader,
  type BridgeUnits,
  type DhcpDropinSpec,
  type TapUnitSpec,
  type UnitFile,
  type UnitOptions,
} from './units';
export { parseLinkStatus, parseSystemdVersion, type NetworkdLinkState } from './networkctl';
export { NetworkdVlans, type NetworkdVlanOptions } from './networkd-vlan';
export { renderVlanUnits, vlanDropinFile, vlanUnitNames, type VlanUnits } from './vlan-units';
