#!/usr/bin/env node
// Before anything else is loaded: a re-exec with huge pages for large graphs (see src/hugepages.ts).
import { relaunchWithHugePages } from '../dist/hugepages.js'

relaunchWithHugePages()
const { runCli } = await import('../dist/cli/index.js')
await runCli(process.argv.slice(2))
