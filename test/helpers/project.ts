import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A project folder whose .devcontainer/devcontainer.json builds `dockerfile` with the folder as context (named
 * `name` when given), plus `files` (relative paths → content). Not a git repository.
 */
export function devcontainerProject(dockerfile: string, files: Record<string, string> = {}, name?: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-project-'));
  const config = { ...(name ? { name } : {}), build: { dockerfile: 'Dockerfile', context: '..' } };
  for (const [rel, content] of Object.entries({
    '.devcontainer/devcontainer.json': `${JSON.stringify(config)}\n`,
    '.devcontainer/Dockerfile': dockerfile,
    ...files,
  })) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}
