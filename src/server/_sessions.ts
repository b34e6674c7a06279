import { randomUUID } from 'node:crypto'

export interface SessionCacheOptions {
  /** A session unused for this long is forgotten. */
  ttlMs?: number
  /** Most sessions kept; adding one more forgets the least recently used. */
  max?: number
  now?: () => number
  newId?: () => string
}

/**
 * Chat sessions kept in memory, bounded both ways: by idle time (TTL) and by count (LRU). The map's
 * insertion order is the order of last use (a use moves the entry to the end), so the expired and
 * the least recently used are always at the front.
 */
export class SessionCache<T> {
  private readonly entries = new Map<string, { value: T; lastUsed: number }>()
  private readonly ttlMs: number
  private readonly max: number
  private readonly now: () => number
  private readonly newId: () => string

  constructor({ ttlMs = 30 * 60_000, max = 1000, now = Date.now, newId = randomUUID }: SessionCacheOptions = {}) {
    this.ttlMs = ttlMs
    this.max = max
    this.now = now
    this.newId = newId
  }

  get size(): number {
    this.sweep()
    return this.entries.size
  }

  /** The live session with this id (and marks it used), or undefined when unknown or expired. */
  get(id: string): T | undefined {
    this.sweep()
    const entry = this.entries.get(id)
    if (!entry) return undefined
    this.entries.delete(id)
    this.entries.set(id, { value: entry.value, lastUsed: this.now() })
    return entry.value
  }

  /** Keeps a new session and returns its id, forgetting the least recently used beyond `max`. */
  add(value: T): string {
    this.sweep()
    while (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next()
      if (oldest.done) break
      this.entries.delete(oldest.value)
    }
    const id = this.newId()
    this.entries.set(id, { value, lastUsed: this.now() })
    return id
  }

  delete(id: string): void {
    this.entries.delete(id)
  }

  private sweep(): void {
    const cutoff = this.now() - this.ttlMs
    for (const [id, entry] of this.entries) {
      if (entry.lastUsed > cutoff) break
      this.entries.delete(id)
    }
  }
}
