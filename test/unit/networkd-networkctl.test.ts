import test from 'ava';
import { parseLinkStatus, parseSystemdVersion } from '@volt/plugin-networkd/dist/index';

test('systemd version from networkctl --version', (t) => {
  t.is(parseSystemdVersion('systemd 252 (252.38-1~deb12u1)\n+PAM +AUDIT -BPF_FRAMEWORK\n'), 252);
  t.is(parseSystemdVersion('systemd 257 (257.4-1ubuntu3.2)\n'), 257);
  t.is(parseSystemdVersion(''), undefined);
  t.is(parseSystemdVersion('networkctl: command not found'), undefined);
});

test('link status JSON (networkctl status IF --json=short, v252)', (t) => {
  const json = JSON.stringify({
    Index: 2,
    Name: 'volt-web',
    Kind: 'bridge',
    AdministrativeState: 'configured',
    OperationalState: 'no-carrier',
    NetworkFile: '/etc/systemd/network/10-volt-volt-web.network',
    Addresses: [],
  });
  t.deepEqual(parseLinkStatus(json), {
    adminState: 'configured',
    operState: 'no-carrier',
    networkFile: '/etc/systemd/network/10-volt-volt-web.network',
  });
});

test('an unmanaged link has no NetworkFile', (t) => {
  t.deepEqual(parseLinkStatus('{"Name":"x","AdministrativeState":"unmanaged","OperationalState":"off","NetworkFile":null}'), {
    adminState: 'unmanaged',
    operState: 'off',
    networkFile: undefined,
  });
});

test('unparsable or unexpected output is "unknown", not an exception', (t) => {
  t.is(parseLinkStatus(''), undefined);
  t.is(parseLinkStatus('Interface "x" not found.'), undefined);
  t.is(parseLinkStatus('[]'), undefined);
  t.is(parseLinkStatus('{"Name":"x"}'), undefined);
  t.is(parseLinkStatus('null'), undefined);
});
