import test from 'ava';
import { hostCount, normalizeTarget, parseHost, splitAbsoluteTarget, withHost } from '@volt/plugin-ingress/dist/request-target';

const same: string[] = ['/', '/v1', '/v1/', '/v1/users/7?q=a%20b', '/index.html?x=1&y=/../z', '/a-b_c~d/e.f', '/v1?', '/.well-known/acme-challenge/tok'];
for (const target of same) {
  test(`normalizeTarget keeps ${target}`, (t) => {
    t.is(normalizeTarget(target), target);
  });
}

const rewritten: [string, string][] = [
  // dot segments (RFC 3986 §5.2.4)
  ['/v1/../admin', '/admin'],
  ['/./v1/x', '/v1/x'],
  ['/admin/../v1/x', '/v1/x'],
  ['/a/b/..', '/a/'],
  ['/a/b/.', '/a/b/'],
  ['/a/..', '/'],
  ['/a/./b/../../c', '/c'],
  // merged slashes (nginx's merge_slashes)
  ['//v1/x', '/v1/x'],
  ['/v1//x///', '/v1/x/'],
  ['/a/..//b', '/b'],
  // unreserved characters decoded, before dot segments
  ['/v1/%2e%2e/admin', '/admin'],
  ['/v1/.%2E/admin', '/admin'],
  ['/%2E/v1', '/v1'],
  ['/%761/x', '/v1/x'],
  ['/%7euser/%41%5a%30%2D%5F', '/~user/AZ0-_'],
  ['/a%2eb', '/a.b'],
  // other escapes kept, hex upper-cased; %2F is not a segment separator
  ['/v1/a%2fb', '/v1/a%2Fb'],
  ['/v1/%2e%2e%2fadmin', '/v1/..%2Fadmin'],
  ['/caf%c3%a9', '/caf%C3%A9'],
  ['/a%20b%3f', '/a%20b%3F'],
  ['/x%5c..%5cy', '/x%5C..%5Cy'],
  // the query string is untouched
  ['/v1/../x?a=%2e%2e/../b&c=%zz', '/x?a=%2e%2e/../b&c=%zz'],
  ['//?//', '/?//'],
  ['/.?x', '/?x'],
  // "." inside a segment is ordinary
  ['/a/.b/..c/...', '/a/.b/..c/...'],
];
for (const [target, want] of rewritten) {
  test(`normalizeTarget ${target} → ${want}`, (t) => {
    t.is(normalizeTarget(target), want);
  });
}

const refused: [string, RegExp][] = [
  ['/..', /climbs above the root/],
  ['/../x', /climbs above the root/],
  ['/v1/../../x', /climbs above the root/],
  ['/%2e%2e/x', /climbs above the root/],
  ['/a/%2E%2e/%2e./x', /climbs above the root/],
  ['/%zz', /invalid percent-encoding "%zz"/],
  ['/a%4', /invalid percent-encoding "%4"/],
  ['/a%', /invalid percent-encoding "%"/],
  ['/a%4?x', /invalid percent-encoding "%4"/],
  ['/a%00b', /encoded NUL/],
  ['/v1\\..\\admin', /backslash/],
  ['/a#frag', /"#"/],
  ['/a b', /byte 0x20/],
  ['/a\x7f', /byte 0x7f/],
  ['/caf\u00e9', /byte 0xe9/],
  ['/v1/..;/admin', /segment/],
  ['/v1/.;x/a', /segment/],
  ['/v1/%2e%2e;/admin', /segment/],
  ['', /must start with/],
  ['v1', /must start with/],
  ['*', /must start with/],
];
for (const [target, why] of refused) {
  test(`normalizeTarget refuses ${JSON.stringify(target)}`, (t) => {
    const r = normalizeTarget(target);
    t.is(typeof r, 'object');
    t.regex((r as { error: string }).error, why);
  });
}

test('normalizeTarget is idempotent', (t) => {
  for (const [, want] of rewritten) t.is(normalizeTarget(want), want, want);
});

const hosts: [string, string, number | undefined][] = [
  ['app.test', 'app.test', undefined],
  ['App.Test:8080', 'app.test', 8080],
  ['app.test.', 'app.test', undefined],
  ['app.test.:443', 'app.test', 443],
  ['my_host-1.test:65535', 'my_host-1.test', 65535],
  ['[FD00::1]:443', 'fd00::1', 443],
  ['[::ffff:10.0.0.1]', '::ffff:10.0.0.1', undefined],
  ['10.0.0.1:80', '10.0.0.1', 80],
  ['app.test:00080', 'app.test', 80],
];
for (const [value, name, port] of hosts) {
  test(`parseHost ${value}`, (t) => {
    t.deepEqual(parseHost(value), port === undefined ? { name } : { name, port });
  });
}

const badHosts: [string | undefined, RegExp][] = [
  [undefined, /missing/],
  ['', /missing/],
  ['app.test:abc', /invalid port "abc"/],
  ['app.test:', /invalid port ""/],
  ['app.test:0', /invalid port/],
  ['app.test:65536', /invalid port/],
  ['app.test:123456', /invalid port/],
  ['app.test:80:80', /invalid port/],
  ['app.test: 80', /invalid port/],
  ['app .test', /whitespace/],
  ['app\t.test', /whitespace/],
  ['app.test/x', /character "\/"/],
  ['user@app.test', /character "@"/],
  ['app.t\u00e9st', /character/],
  ['app..test', /empty label/],
  ['.app.test', /empty label/],
  [':80', /empty host name/],
  ['.', /empty host name/],
  ['[fd00::1', /unclosed/],
  ['[fd00::1]x', /junk/],
  ['[app.test]', /IPv6/],
  ['[]', /IPv6/],
  [`${'a'.repeat(254)}`, /longer than 253/],
];
for (const [value, why] of badHosts) {
  test(`parseHost refuses ${JSON.stringify(value)}`, (t) => {
    const r = parseHost(value);
    t.true('error' in r, JSON.stringify(r));
    t.regex((r as { error: string }).error, why);
  });
}

test('absolute-form targets: the authority and the rest in origin form', (t) => {
  t.deepEqual(splitAbsoluteTarget('http://app.test/v1/abs'), { authority: 'app.test', target: '/v1/abs' });
  t.deepEqual(splitAbsoluteTarget('HTTPS://App.Test:8443'), { authority: 'App.Test:8443', target: '/' });
  t.deepEqual(splitAbsoluteTarget('http://app.test?q=1'), { authority: 'app.test', target: '/?q=1' });
  t.deepEqual(splitAbsoluteTarget('http://[fd00::1]:80/x'), { authority: '[fd00::1]:80', target: '/x' });
  t.regex((splitAbsoluteTarget('ftp://app.test/') as { error: string }).error, /scheme "ftp"/);
  t.regex((splitAbsoluteTarget('file:///etc/passwd') as { error: string }).error, /scheme "file"/);
  t.regex((splitAbsoluteTarget('http://user:pw@app.test/') as { error: string }).error, /userinfo/);
  t.regex((splitAbsoluteTarget('http:///x') as { error: string }).error, /empty authority/);
  t.regex((splitAbsoluteTarget('*') as { error: string }).error, /neither a path/);
  t.regex((splitAbsoluteTarget('app.test:80') as { error: string }).error, /neither a path/);
});

test('withHost replaces every Host with one, or adds it', (t) => {
  t.deepEqual(withHost(['Host', 'other.test', 'X-A', '1'], 'app.test'), ['Host', 'app.test', 'X-A', '1']);
  t.deepEqual(withHost(['X-A', '1', 'host', 'a', 'HOST', 'b'], 'app.test'), ['X-A', '1', 'host', 'app.test']);
  t.deepEqual(withHost(['X-A', '1'], 'app.test'), ['Host', 'app.test', 'X-A', '1']);
  t.is(hostCount(['Host', 'a', 'X-Hostname', 'b', 'hOsT', 'c']), 2);
  t.is(hostCount([]), 0);
});
