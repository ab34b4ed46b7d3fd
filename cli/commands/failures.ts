import { printError, type Context } from '../context.ts';
import { CliError, EXIT } from '../errors.ts';

/** After a command over several items: prints all failures but the last, throws that one (exit 3 when any was an integrity failure). */
export function reportFailures(ctx: Context, failures: CliError[]): void {
  if (failures.length === 0) return;
  for (const f of failures.slice(0, -1)) printError(ctx, f);
  const last = failures[failures.length - 1]!;
  const exit = failures.some((f) => f.exitCode === EXIT.integrity) ? EXIT.integrity : last.exitCode;
  throw new CliError(last.message, exit, last.code, last.status);
}
