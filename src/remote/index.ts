// Clients of the model servers askpapers talks to (Ollama, OpenAI-compatible): their set-up and how
// their failures read. The embedders (index/embedders) and the chat providers (answer/providers) both use it.
export {
  capitalise,
  describeOllamaChatError,
  describeOllamaError,
  describeOpenAIChatError,
  describeOpenAIError,
  httpStatus,
  isTimeout,
  modelError,
  retryOnlyTransient,
  rootCause,
  serverMessage,
} from './_errors.js'
export { baseUrlOf, OPENAI_BASE_URL, openAIClientFields, reachable, withTimeout } from './_http.js'
