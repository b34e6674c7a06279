import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import hnswlib from 'hnswlib-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readGraph } from '../../src/index/store/_segment.js'

// hnswlib-node is patched (patches/hnswlib-node+*.patch): its loader's self-check of a graph file
// counts offsets instead of asking the stream for its position twice per vector, which was an
// lseek system call each (126 k of them for a 61 k-vector graph). The check must still refuse
// every file whose structure does not add up.
const DIMS = 8
const N = 300
// The header hnswlib writes before the vectors: six size_t, an int, a uint32, three size_t, a double, a size_t.
const HEADER = 6 * 8 + 4 + 4 + 3 * 8 + 8 + 8

let dir: string
let intact: Buffer

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'askpapers-graph-'))
  const graph = new hnswlib.HierarchicalNSW('cosine', DIMS)
  graph.initIndex(N, 8, 50, 7)
  for (let i = 0; i < N; i++) graph.addPoint(Array.from({ length: DIMS }, (_, d) => Math.sin(i * 7.3 + d * 1.1) + 1.5), i)
  await graph.writeIndex(join(dir, 'intact.hnsw'))
  intact = await readFile(join(dir, 'intact.hnsw'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Offset of element i's upper-level link size, after the header and every vector's level-0 record. */
function linkSizeOffsets(file: Buffer): { first: number; perElement: number[] } {
  const count = Number(file.readBigUInt64LE(16))
  const record = Number(file.readBigUInt64LE(24))
  const offsets: number[] = []
  let at = HEADER + count * record
  for (let i = 0; i < count; i++) {
    offsets.push(at)
    at += 4 + file.readUInt32LE(at)
  }
  return { first: HEADER + count * record, perElement: offsets }
}

async function load(bytes: Buffer, name: string): Promise<hnswlib.HierarchicalNSW> {
  await writeFile(join(dir, name), bytes)
  return readGraph(join(dir, name), DIMS)
}

describe('graph files through the patched hnswlib loader', () => {
  it('reads an intact graph whole: every vector, its upper levels, the same neighbours as the graph that wrote it', async () => {
    const graph = await load(intact, 'copy.hnsw')
    expect(graph.getCurrentCount()).toBe(N)
    const { perElement } = linkSizeOffsets(intact)
    // Some elements live on upper levels (their link lists are what the self-check walks).
    expect(perElement.filter((at) => intact.readUInt32LE(at) > 0).length).toBeGreaterThan(0)
    const query = Array.from({ length: DIMS }, (_, d) => Math.sin(42 * 7.3 + d * 1.1) + 1.5)
    expect(graph.searchKnn(query, 1).neighbors).toEqual([42])
    expect(graph.getPoint(17).map((v) => Number(v.toFixed(5)))).toEqual(
      (() => {
        const v = Array.from({ length: DIMS }, (_, d) => Math.sin(17 * 7.3 + d * 1.1) + 1.5)
        const norm = Math.hypot(...v)
        return v.map((x) => Number((x / norm).toFixed(5)))
      })(),
    )
  })

  const damaged: [string, (b: Buffer) => Buffer][] = [
    ['cut short by 4 bytes', (b) => b.subarray(0, b.length - 4)],
    ['cut inside the vectors', (b) => b.subarray(0, linkSizeOffsets(b).first - 100)],
    ['with 64 bytes too many', (b) => Buffer.concat([b, Buffer.alloc(64)])],
    [
      'with a link size running past the end',
      (b) => {
        const c = Buffer.from(b)
        c.writeUInt32LE(0x7fff_0000, linkSizeOffsets(b).perElement[3]!)
        return c
      },
    ],
    [
      'with a link size 4 bytes too long',
      (b) => {
        const c = Buffer.from(b)
        const at = linkSizeOffsets(b).perElement.find((o) => b.readUInt32LE(o) > 0)!
        c.writeUInt32LE(b.readUInt32LE(at) + 4, at)
        return c
      },
    ],
  ]
  for (const [what, damage] of damaged) {
    it(`refuses a graph ${what} with hnswlib's own error, not a crash`, async () => {
      await expect(load(damage(intact), 'damaged.hnsw')).rejects.toThrow(/Index seems to be corrupted or unsupported/)
    })
  }
})
