import { token } from '../di/token';
import type { Driver } from './driver';

export interface DnsRecord {
  name: string;
  type: 'A' | 'PTR';
  value: string;
  network: string;
}

export interface DnsListener {
  network: string;
  address: string;
  port: number;
}

/** Serves workload names on each network's gateway. */
export interface DnsDriver extends Driver {
  startListener(listener: DnsListener): Promise<void>;
  stopListener(listener: DnsListener): Promise<void>;
  /** Replace the records of one network (live, without restart). */
  publish(network: string, records: DnsRecord[]): Promise<void>;
  flushCache(): Promise<number>;
}

export const DnsDriver = token<DnsDriver>('volt.driver.dns');
