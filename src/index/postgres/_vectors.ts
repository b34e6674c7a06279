/**
 * Vectors as one binary `vector[]` parameter (node-postgres sends a Buffer in binary format):
 * PostgreSQL's array wire format around pgvector's own (`vector_recv`: int16 dimensions, int16
 * unused, float4 big-endian each). 2 KB a 512-dimension vector instead of ~10 KB of decimal text,
 * and no float parsing in the server, which is most of a bulk load's cost through PGlite.
 */
export function vectorArray(vectorOid: number, vectors: readonly (readonly number[])[], dims: number): Buffer {
  const element = 4 + 4 * dims
  const buf = Buffer.allocUnsafe(20 + vectors.length * (4 + element))
  buf.writeInt32BE(1, 0) // one dimension
  buf.writeInt32BE(0, 4) // no nulls
  buf.writeUInt32BE(vectorOid, 8)
  buf.writeInt32BE(vectors.length, 12)
  buf.writeInt32BE(1, 16) // lower bound
  let at = 20
  for (const v of vectors) {
    buf.writeInt32BE(element, at)
    buf.writeInt16BE(dims, at + 4)
    buf.writeInt16BE(0, at + 6)
    at += 8
    for (let i = 0; i < dims; i++, at += 4) buf.writeFloatBE(v[i] ?? 0, at)
  }
  return buf
}

/** One vector as a binary `vector` parameter (pgvector's `vector_recv` format). */
export function vectorArgument(vector: readonly number[]): Buffer {
  const buf = Buffer.allocUnsafe(4 + 4 * vector.length)
  buf.writeInt16BE(vector.length, 0)
  buf.writeInt16BE(0, 2)
  vector.forEach((x, i) => buf.writeFloatBE(x, 4 + 4 * i))
  return buf
}
