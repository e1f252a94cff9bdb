/**
 * `mrm`: the command line on top of the server (src/serve) and the trainer
 * (trainer/). Each subcommand lives in src/commands and is loaded on demand,
 * so `mrm serve` does not load the trainer and `mrm data` does not load gRPC.
 */
import { UsageError } from './commands/args.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<void> }> }> = {
  serve: { summary: 'serve rewards over gRPC (mrm.v1.RewardService, health, reflection)', load: () => import('./commands/serve.js') },
  score: { summary: 'score items against a running server', load: () => import('./commands/score.js') },
  data: { summary: 'generate ShapesWorld splits; import/export data sets', load: () => import('./commands/data.js') },
  fit: { summary: 'fit a bundle (head-only) from a data set', load: () => import('./commands/fit.js') },
  train: { summary: 'train a whole model end to end (--engine torch) and export a bundle', load: () => import('./commands/train.js') },
  eval: { summary: 'evaluate a bundle per slice (overall, grounded, style-adversarial, T2I, ECE)', load: () => import('./commands/eval.js') },
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return ['usage: mrm <command> [options]   (mrm <command> --help for its options)', '', ...rows].join('\n');
}

const [name, ...rest] = process.argv.slice(2);
const command = name ? COMMANDS[name] : undefined;
if (!command) {
  console.error(usage());
  process.exit(name && name !== '--help' ? 2 : 0);
}
try {
  await (await command.load()).run(rest);
} catch (err) {
  const e = err as Error;
  console.error(`mrm ${name}: ${e.message}`);
  if (process.env.MRM_DEBUG) console.error(e);
  // Usage mistakes exit 2, like other command-line tools; failures exit 1.
  process.exit(e instanceof UsageError ? 2 : 1);
}
