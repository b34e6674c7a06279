export { createApp, DEFAULT_MAX_BODY_BYTES, type AppDeps, type AppEnv, type Conversation } from './app.js'
export { ApiError, type ApiErrorCode, type ErrorBody } from './_errors.js'
export { loadServerConfig, type ServerConfig, type ServerFlags } from './_config.js'
export { engineDeps, listen, type EngineDeps, type ListenOptions, type RunningServer } from './main.js'
