export { OvsBridge } from './ovs-bridge';
export { Ovs, ovsSettings, type OvsSettings } from './ovs';
