import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { downloadCommand } from './commands/download.ts';
import { lsCommand, rmCommand, statCommand } from './commands/objects.ts';
import { parseDuration, presignCommand } from './commands/presign.ts';
import { uploadCommand } from './commands/upload.ts';
import { DEFAULT_SERVER, printError, resolveContext, type Context, type GlobalFlags } from './context.ts';
import { CliError, EXIT, toCliError } from './errors.ts';

function positiveInt(name: string, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) throw new InvalidArgumentError(`${name} must be a whole number from 1 to ${max}`);
    return Number(value);
  };
}

function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('must be a whole number of bytes');
  return Number(value);
}

function expires(value: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

let ctx: Context | undefined;

/** The command line: commander parses and documents it (`--help` on every command). */
export function buildProgram(): Command {
  const program = new Command('ugw')
    .description('Command-line client of upload-gateway: resumable uploads, verified downloads, objects and presigned URLs.')
    .addOption(new Option('--server <url>', `the gateway (env UGW_SERVER, default ${DEFAULT_SERVER})`))
    .addOption(new Option('--token <token>', 'bearer token sent with every request (env UGW_TOKEN); never printed'))
    .option('--json', 'machine-readable output: one JSON document per result on stdout')
    .addOption(new Option('--retry-time <seconds>', 'how long network errors are retried (env UGW_RETRY_TIME, default 60)'))
    .option('-q, --quiet', 'no progress bars and no warnings (results and errors are still printed)')
    .showSuggestionAfterError()
    .exitOverride()
    .addHelpText(
      'after',
      '\nExit codes: 0 done, 1 failed, 2 usage, 3 integrity (a digest did not match).\nResume state: $XDG_CONFIG_HOME/upload-gateway (default ~/.config/upload-gateway).',
    );
  program.configureOutput({ outputError: (text, write) => write(`ugw: Usage: ${text.replace(/^error: /i, '')}`) });
  const run =
    <A extends unknown[]>(fn: (c: Context, ...args: A) => Promise<void>) =>
    async (...args: A) => {
      ctx = resolveContext(program.opts<GlobalFlags>());
      await fn(ctx, ...args);
    };

  program
    .command('upload')
    .description('upload files through tus; a killed or cut upload resumes from the server offset on the next run')
    .argument('<file...>', 'files to upload')
    .option('--owner <owner>', 'the owner segment of the key models/{owner}/{filename}')
    .option('--name <filename>', 'the file name in the key (one file only; default: the file’s own name)')
    .option('--parallel <n>', 'files uploaded at the same time', positiveInt('--parallel', 64), 1)
    .action(run((c, files: string[], flags) => uploadCommand(c, files, flags)));

  program
    .command('download')
    .description('download an object into FILE.part, resuming with Range + If-Range; renamed to FILE only when its sha256 matches Repr-Digest')
    .argument('<key>', 'object key, e.g. models/alice/model.onnx')
    .option('-o, --output <file>', 'where to write it (default: the key’s last segment in the current directory)')
    .action(run((c, key: string, flags) => downloadCommand(c, key, flags)));

  program
    .command('ls')
    .description('list objects under a prefix (all pages)')
    .argument('[prefix]', 'key prefix', '')
    .option('--page-size <n>', 'objects per request', positiveInt('--page-size', 1000), 1000)
    .action(run((c, prefix: string, flags) => lsCommand(c, prefix, flags)));

  program
    .command('stat')
    .description('show an object: size, type, ETag, metadata (with its sha256)')
    .argument('<key>', 'object key')
    .action(run((c, key: string) => statCommand(c, key)));

  program
    .command('rm')
    .description('delete an object (succeeds also when it is absent, as S3)')
    .argument('<key>', 'object key')
    .action(run((c, key: string) => rmCommand(c, key)));

  program
    .command('presign')
    .description('a presigned GET (default) or PUT URL for a key')
    .argument('<key>', 'object key')
    .option('--put', 'a URL to upload to (needs --size)')
    .option('--size <n>', 'PUT: the exact size in bytes the URL accepts', nonNegativeInt)
    .option('--sha256 <hex>', 'PUT: the sha256 the body must have')
    .option('--content-type <type>', 'PUT: the content type to send')
    .option('--expires <duration>', 'lifetime: seconds, or 15m, 1h, 7d', expires, 3600)
    .action(run((c, key: string, flags) => presignCommand(c, key, flags)));

  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    if (argv.length <= 2) {
      program.outputHelp({ error: true });
      return EXIT.usage;
    }
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0; every other parse error is a usage error.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const e = err instanceof CliError ? err : toCliError(err);
    printError(ctx, e);
    return e.exitCode;
  }
}

const code = await main(process.argv);
// Flush stdout (a pipe may be slow) before exiting; open keep-alive sockets must not hold the process.
process.stdout.write('', () => process.exit(code));
