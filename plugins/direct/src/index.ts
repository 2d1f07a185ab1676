export { DirectBridge, planBridge } from './direct-bridge';
