export type { CallbackAttempt, CreateRequestRecord, Outage, SimStats } from './context.js';
export type { ReceivedInput } from './inputs.js';
export { DEFAULT_MEDIA_LIMITS, type MediaLimits } from './media-limits.js';
export type { MediaMeta } from './media-probe.js';
export {
  DEFAULT_DASHSCOPE_PREFIXES,
  SIMULATOR_API_KEY,
  type SimulatorLimits,
  type SimulatorOptions,
} from './options.js';
export { RESULT_MODE_ENV, type ResultMode } from './result-media.js';
export { parseScenario, SCENARIO_GRAMMAR, type Scenario, ScenarioError } from './scenario.js';
export { createSimulator, type Simulator } from './server.js';
