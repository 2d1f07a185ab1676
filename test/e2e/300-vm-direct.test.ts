import test from 'ava';
import { SandboxHost } from '../harness';
import { crossType } from './300-vm-scenario';

test('cross-type communication with the direct drivers: container api-server and VM db-primary are L2 peers (real guest, DHCP by dnsmasq)', async (t) => {
  const host = await SandboxHost.create(t);
  await crossType(t, host, { nicDriver: 'direct-tap' });
});
