/**
 * `--text-rnn gru` (trainer/torch/mrm_torch/text_rnn.py): the order signal
 * reads each row's real words only, prompt then response as one sequence,
 * so a row's output does not move when padding is appended (training trims
 * all-padding columns, the export pads to the manifest's widths), it equals
 * the two GRUs run on that row alone, padded slots are left as they were,
 * and a model with the module as initialised (on the embeddings or after
 * block 1, `--text-rnn-at 1`) scores exactly as one without.
 */
import { describe, expect, it } from 'vitest';
import { runPython } from './helpers.js';

describe('text RNN padding', () => {
  it('ignores padding, matches each row run alone, and starts silent', async () => {
    const out = JSON.parse(await runPython('mrm_torch.text_rnn_check', ['--seed', '3', '--rows', '24'])) as {
      padding: number; reference: number; padded_slots: number; init: number; prompt_lengths: number[]; response_lengths: number[];
    };
    // The rows cover an empty prompt and full-width parts, the edge cases of the packing.
    expect(out.prompt_lengths).toContain(0);
    expect(out.prompt_lengths).toContain(9);
    expect(out.response_lengths).toContain(7);
    expect(out.padding).toBeLessThan(1e-6);
    expect(out.reference).toBeLessThan(1e-5);
    expect(out.padded_slots).toBe(0);
    expect(out.init).toBe(0);
  }, 60_000);
});
