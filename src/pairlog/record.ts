/**
 * One low-confidence pair as the server logs it and a round reads it: all a
 * round needs without the client. Images are stored once, content-addressed,
 * beside the segments; the record names them by sha256. Features are the
 * encoder's output for each side, valid for any version whose encoder.onnx
 * has `encoderSha256`, so a head-only round never decodes an image again.
 */
export type PairSource = 'compare' | 'group';

export interface LoggedSide {
  response: string;
  /** The version's raw reward: the mean of its heads. */
  reward: number;
  /** Raw per-head rewards, K of them. */
  heads: number[];
  spread: number;
  /** Encoder features [D]. */
  features: Float32Array;
}

export interface PairRecord {
  /** Dedupe key: digest of images, texts and version. */
  id: string;
  /** ISO time the server logged it. */
  time: string;
  source: PairSource;
  model: string;
  version: number;
  encoderSha256: string;
  /** sha256 of each image, in prompt order; bytes via the reader's `image(sha)`. */
  images: string[];
  system: string;
  prompt: string;
  reference: string;
  a: LoggedSide;
  b: LoggedSide;
  /** a.reward - b.reward; P(a > b) = sigmoid(margin). */
  margin: number;
}
