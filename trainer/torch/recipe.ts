/**
 * The shipped learned bundle's recipe (trainer/torch/README.md, "The shipped
 * bundle"), shared by `npm run build:learned`, which runs all of it, and
 * `npm run bench:learned-noise`, which starts from that build's label-free
 * checkpoints and runs only its Bradley-Terry stage on other labels.
 */

/** The model's shape: the cheaper tower (4 stride-2 convs to an 8x8 grid), its readings alone and tied to their words, occupancy-weighted attention, a sink, a 64-wide 3-layer encoder. */
export const LEARNED_ARCH = [
  '--channels', '24,48,64,64', '--strides', '2,2,2,2', '--attributes', 'only', '--tie-readings', '--attend-occupied', '--sink',
  '--d', '64', '--layers', '3', '--heads', '4',
];

/** Bradley-Terry stage: 2 epochs of 32 pairs a step (README "Measured": the held-out curve flattens by then). */
export const LEARNED_BT = { epochs: 2, batch: 32 } as const;
