import { token } from '../di/token';
import type { Driver } from './driver';

export interface IngressRoute {
  name: string;
  hostname: string;
  path: string;
  backend: { host: string; port: number };
  tls: 'none' | 'auto' | 'manual' | 'passthrough';
  timeoutSeconds: number;
}

export interface IngressListeners {
  httpPort: number;
  httpsPort: number;
}

/** Routes HTTP/HTTPS from the host to workloads. Routes are plain data. */
export interface IngressDriver extends Driver {
  startProxy(listeners: IngressListeners): Promise<void>;
  stopProxy(): Promise<void>;
  /** Swap the routing table; in-flight requests finish on the old one. */
  applyRoutes(routes: IngressRoute[]): Promise<void>;
}

export const IngressDriver = token<IngressDriver>('volt.driver.ingress');
