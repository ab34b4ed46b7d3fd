import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where the client keeps its resume state: `$XDG_CONFIG_HOME/upload-gateway`, else
 * `~/.config/upload-gateway` (XDG Base Directory: "If $XDG_CONFIG_HOME is either not set or
 * empty, a default equal to $HOME/.config should be used").
 */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'upload-gateway');
}
