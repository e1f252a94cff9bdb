/**
 * `mrm`: the command line on top of the server (src/serve) and the trainer
 * (trainer/). Each subcommand lives in src/commands and is loaded on demand,
 * so `mrm serve` does not load the trainer and `mrm data` does not load gRPC.
 *
 * COMMANDS is the one list of commands: `mrm --help` prints it, and the help
 * test (test/commands/help.test.ts) checks every command in it, so a new
 * command is one row here and a module whose `run` parses with args.parse.
 */
import { UsageError } from './commands/args.js';

export const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<void> }> }> = {
  serve: { summary: 'serve rewards over gRPC (mrm.v1.RewardService, health, reflection)', load: () => import('./commands/serve.js') },
  models: { summary: 'list, show, activate and roll back model versions (admin API)', load: () => import('./commands/models.js') },
  score: { summary: 'score items against a running server', load: () => import('./commands/score.js') },
  data: { summary: 'generate ShapesWorld splits; import/export data sets', load: () => import('./commands/data.js') },
  fit: { summary: 'fit a bundle (head-only) from a data set', load: () => import('./commands/fit.js') },
  log: { summary: 'the low-confidence pair log: stats, tail', load: () => import('./commands/log.js') },
  train: { summary: 'train a whole model end to end (--engine torch) and export a bundle', load: () => import('./commands/train.js') },
  eval: { summary: 'evaluate a bundle per slice (overall, grounded, style-adversarial, T2I, ECE)', load: () => import('./commands/eval.js') },
  demo: { summary: 'the improvement loop end to end on ShapesWorld (start model, server, judge, rounds)', load: () => import('./commands/demo.js') },
  round: { summary: 'improvement rounds: run, resume, show, list (start/watch through the admin API)', load: () => import('./commands/round.js') },
  judge: { summary: 'serve the simulated ShapesWorld judge (OpenAI chat-completions protocol)', load: () => import('./commands/judge.js') },
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return ['usage: mrm <command> [options]   (mrm <command> --help for its options)', '', ...rows].join('\n');
}

/** Runs `mrm <argv>`; bin/mrm.js calls it, tests import COMMANDS without running anything. */
export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    if (name === '--help' || name === '-h') {
      console.log(usage());
      process.exit(0);
    }
    if (!name) {
      console.error(usage());
      process.exit(2);
    }
    console.error(`mrm: unknown command '${name}'; the commands are ${Object.keys(COMMANDS).join(', ')} (mrm --help)`);
    process.exit(2);
  }
  try {
    await (await command.load()).run(rest);
  } catch (err) {
    const e = err as Error;
    // One line: a usage mistake names the flag or path and what would work;
    // MRM_DEBUG=1 adds the stack and causes.
    console.error(`mrm ${name}: ${e.message}`);
    if (process.env.MRM_DEBUG) console.error(e);
    // Usage mistakes exit 2, like other command-line tools; failures exit 1.
    process.exit(e instanceof UsageError ? 2 : 1);
  }
}
