import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, rename, rm, stat, writeFile } from 'node:fs/promises'

export interface FileDigest {
  bytes: number
  sha256: string
}

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex')

export const digestOf = (data: string | Buffer): FileDigest => ({ bytes: Buffer.byteLength(data), sha256: sha256(data) })

/** Size and sha256 of a file, streamed (an HNSW index of a large corpus is hundreds of MB); undefined if absent. */
export async function digestFile(path: string): Promise<FileDigest | undefined> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined
    throw error
  })
  if (!info?.isFile()) return undefined
  const hash = createHash('sha256')
  for await (const piece of createReadStream(path)) hash.update(piece as Buffer)
  return { bytes: info.size, sha256: hash.digest('hex') }
}

export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Writes `data` to `path` through a temporary file of this process and a rename, fsynced. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  try {
    await writeFile(tmp, data)
    await fsyncPath(tmp)
    await rename(tmp, path)
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => undefined)
    throw error
  }
}

export const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  )
