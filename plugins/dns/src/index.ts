export { Dns2Resolver } from './dns2-resolver';
