// The command line's one import surface: `bin/askpapers.js` runs it.
export { runCli } from './main.js'
