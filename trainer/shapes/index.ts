/** ShapesWorld: the built-in, ground-truthed multimodal domain. */
export { Rng, deriveSeed, hash32 } from './rng.js';
export {
  ALL_ATTRS,
  attrsOf,
  BACKGROUND_COLORS,
  BACKGROUND_NOISE,
  BACKGROUND_RGB,
  COLOR_JITTER,
  COLOR_RGB,
  COLORS,
  countMatching,
  KINDS,
  matches,
  RELATIONS,
  SIZES,
  uniqueMatching,
  type Attrs,
  type Background,
  type BackgroundColor,
  type BackgroundFill,
  type Color,
  type Kind,
  type Relation,
  type RGB,
  type Scene,
  type Shape,
  type Size,
} from './world.js';
export {
  areaOf,
  contains,
  edgeDistance,
  extentOf,
  RADIUS_UNIT,
  radiusOf,
  RELATION_MIN_DOMINANT,
  RELATION_MIN_RATIO,
  relationBetween,
  SQUARE_HALF_SIDE,
  TRIANGLE_CIRCUMRADIUS,
  visibleFraction,
  type Extent,
  type RelationReading,
} from './geometry.js';
export {
  EDGE_MARGIN,
  jitterColor,
  layoutViolation,
  MAX_SHAPES,
  MIN_VISIBLE,
  placeOnTop,
  SAME_COLOR_GAP,
  sampleBackground,
  sampleScene,
  type RelationConstraint,
  type SceneSpec,
} from './sampler.js';
export { DEFAULT_IMAGE_SIZE, rasterize, renderPng, type Raster, type RasterOptions } from './raster.js';
export { encodePng, encodePngSync } from './png.js';
export { imageKey, imageKeys, renderPairImages, streamPairImages, type RenderPairsOptions } from './render-pairs.js';
export {
  capitalize,
  colorClaim,
  countClaim,
  descriptionClaim,
  existenceClaim,
  groupPhrase,
  listPhrase,
  NUMBER_WORDS,
  numberText,
  positionClaim,
  RELATION_PHRASES,
  type Group,
  type Numerals,
  type Referent,
} from './grammar.js';
export {
  claimText,
  describeScene,
  QTYPES,
  questionText,
  referenceAnswer,
  referenceText,
  sameAnswer,
  type Answer,
  type QType,
  type Question,
} from './questions.js';
export { parseClaim, parsePositionReferents } from './parse.js';
export {
  corruptDescription,
  respond,
  sampleWording,
  simulatePolicy,
  STYLES,
  styled,
  VERBOSE_TEMPLATES,
  wrongAnswer,
  type ErrorKind,
  type PolicyConfig,
  type PolicyResponse,
  type Style,
  type Wording,
} from './policies.js';
export { buildCase, type GroundedCase } from './cases.js';
export { SLICES, type PairMeta, type PairSample, type QaMeta, type Slice, type T2IMeta } from './pair-sample.js';
export { assignments, DEFAULT_MIX, pairId, samplePair, sampleSplit, SLICE_TYPES, SYSTEM_PROMPTS, type PairAssignment } from './pairs.js';
export {
  captionText,
  DT2IT_RESPONSES,
  dt2itPrompt,
  sampleT2I,
  sceneMatchesCaption,
  T2I_ERRORS,
  toDt2itPair,
  type CaptionSpec,
  type T2IChange,
  type T2IErrorKind,
  type T2ISample,
} from './t2i.js';
export { annotate, annotateAll, ORACLE, type Annotation, type AnnotatorConfig } from './annotators.js';
export {
  DATASET_FORMATS,
  datasetInfoEntry,
  decodeRecords,
  encodeRecords,
  IMAGE_TOKEN,
  toDt2it,
  toLlamaFactory,
  toPreferenceRecord,
  type DatasetFormat,
  type DecodeResult,
  type PreferenceRecord,
} from './formats.js';
export { dataFileName, imagePath, readDataset, writeDataset, type DatasetOptions, type PngSource, type ReadDataset, type WrittenDataset } from './dataset.js';
export { DatasetError, SceneSamplingError, UnaskableQuestion, type DatasetErrorKind } from './errors.js';
export { DeflatePool, DeflatePoolError } from './deflate-pool.js';
