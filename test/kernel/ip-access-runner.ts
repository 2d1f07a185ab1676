/**
 * Prints the SDK's link reads (listLinks, getLink, linksOfMaster,
 * observeBridges) for the namespace this process is in, on the path
 * VOLT_KERNEL_ACCESS names (253-netlink-links starts it with `ip netns exec`).
 *
 *   node ip-access-runner.js '{"link":"br0","master":"br0","bridges":["br0","nosuch"]}'
 */
import { netlinkDump, netlinkFdb } from '@volt/native';
import { fdbKnows, getLink, linkNamesIn, linksOfMaster, listLinks, observeBridges, useNetlinkLibrary } from '@volt/sdk/kernel';

async function main(): Promise<void> {
  const q = JSON.parse(process.argv[2] ?? '{}') as { link: string; master: string; bridges: string[]; peerNs: string; macs: string[] };
  let dumps = 0;
  useNetlinkLibrary(() => ({
    dump: (nsPath) => {
      dumps += 1;
      return netlinkDump(nsPath);
    },
    fdb: () => netlinkFdb(),
  }));
  const out = {
    links: await listLinks(),
    link: (await getLink(q.link)) ?? null,
    missing: (await getLink('nosuch0')) ?? null,
    ports: await linksOfMaster(q.master),
    bridges: await observeBridges(q.bridges),
    peerNames: (await linkNamesIn(q.peerNs)) ?? null,
    goneNames: (await linkNamesIn('/run/netns/nosuch-volt-ns')) ?? null,
    fdb: q.macs.map((m) => fdbKnows(q.master, m) ?? null),
    dumps,
  };
  process.stdout.write(JSON.stringify(out));
}

void main();
