/**
 * Judges: label pairs through an OpenAI-compatible endpoint (a hosted model,
 * vLLM, or the simulated ShapesWorld judge, which speaks the same protocol).
 * A round sees only PairLabeler (types.ts).
 */
export type { JudgeOrders, LabelerStats, PairJudgment, PairLabeler, PairToJudge } from './types.js';
export { JudgeLabeler, type JudgeLabelerOptions } from './labeler.js';
export { OpenAIJudge, type OpenAIJudgeOptions } from './openai-judge.js';
export { JudgeError, type JudgeCall, type JudgeCallResult, type JudgeCounters, type JudgeFailureKind, type JudgeProvider } from './provider.js';
export { buildRubricMessages, CRITERIA, parseRubricAnswer, RUBRIC_VERSION, type RubricMode } from './rubric.js';
export { CACHE_FILE, JudgmentCache } from './cache.js';
export { JUDGE_DEFAULTS, JudgeConfigError, judgeConfigFromEnv, openAIJudgeOptions, redactJudgeConfig, type JudgeConfig } from './config.js';
export { shapesPairsToJudge } from './shapes-pairs.js';
export { DEFAULT_SIMULATED_JUDGE, startSimulatedJudge, type SimulatedJudge, type SimulatedJudgeOptions } from './simulated/server.js';
export { DEFAULT_POLICY, judgePolicy, type JudgePolicyConfig } from './simulated/policy.js';
export { simulatedLabeler, type SimulatedLabeler } from './simulated-labeler.js';
