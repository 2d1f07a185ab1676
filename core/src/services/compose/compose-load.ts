import type { VoltApp } from '../../app';
import { readInputFile } from '../../cli/input-file';
import { parseCompose, type ComposeProject } from './compose-file';
import { ComposeService } from './compose-service';

/** Read and parse `-f FILE` (relative paths as given, so messages name the file the user typed). */
export function loadComposeFile(file: string, project?: string): ComposeProject {
  const { text, source } = readInputFile(file);
  return parseCompose(text, source === 'stdin' ? 'stdin' : file, { project });
}

export function composeService(app: VoltApp): ComposeService {
  return new ComposeService({
    store: app.store,
    defaultMtu: app.config.network.mtu,
    defaultNetwork: app.config.network.default_bridge,
    networks: () => app.networks(),
    workloads: () => app.workloads(),
  });
}
