export { BrokenBridge } from './broken-bridge';
