import type pg from 'pg'
import { normaliseTitle } from '../../corpus/index.js'
import { AppError } from '../../errors.js'
import { paperFields, termFrequencies } from './_terms.js'

/**
 * The corpus lives in one PostgreSQL schema (default `askpapers`), so a database can hold several
 * corpora side by side. Every table is created by a numbered migration recorded in
 * `schema_migrations`; a database is brought up to `LATEST` when a store opens it.
 *
 *   corpus         one row: version (bumped per commit), embedder, chunking, partial ingest, counts
 *   papers         id, the StoredPaper record, content hash, year and source files (for filters)
 *   chunks         LangChain PGVectorStore's layout (id, text, metadata, embedding) + generated columns
 *   writer         who holds the write lock (see _lock.ts)
 *   notes          derived records kept with one corpus version (fusion calibration…)
 *   paper_terms    (2) the project tokenizer's term frequencies per paper (3: with the paper's length; 4: both in
 *                  the key's index): BM25 in SQL
 *   chunk_terms    (2) the same per chunk (dropped by 3)
 *   papers.search  (2) tsvector, title weighted A over abstract B, GIN-indexed
 *   paper_df       (3) per term, the papers containing it
 *   chunk_df       (3) per term, the chunks containing it
 *   papers.title_key (3) the normalised title, indexed (an ingest's diff finds papers by it)
 */

export interface Migration {
  version: number
  name: string
  up(client: pg.ClientBase, schema: string): Promise<void>
}

const q = (schema: string): string => `"${schema}"`

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'papers, chunks and vectors',
    async up(client, schema) {
      const s = q(schema)
      await client.query('CREATE EXTENSION IF NOT EXISTS vector')
      await client.query(`
        CREATE TABLE ${s}.corpus (
          id boolean PRIMARY KEY DEFAULT true CHECK (id),
          version bigint NOT NULL DEFAULT 0,
          embedder jsonb,
          chunking jsonb,
          partial jsonb,
          papers integer NOT NULL DEFAULT 0,
          chunks integer NOT NULL DEFAULT 0,
          updated_at timestamptz
        );
        INSERT INTO ${s}.corpus DEFAULT VALUES;
        CREATE TABLE ${s}.papers (
          id text PRIMARY KEY,
          record jsonb NOT NULL,
          content_hash text NOT NULL,
          year integer,
          source_files text[] NOT NULL DEFAULT '{}'
        );
        CREATE INDEX papers_year ON ${s}.papers (year);
        -- LangChain's PGVectorStore writes id, text, metadata and embedding; the rest derives from metadata.
        -- The embedding's dimension is fixed by the first commit (pgvector's HNSW index needs vector(N)).
        CREATE TABLE ${s}.chunks (
          id text PRIMARY KEY,
          text text NOT NULL,
          metadata jsonb NOT NULL,
          embedding vector,
          paper_id text GENERATED ALWAYS AS (metadata->>'paperId') STORED,
          idx integer GENERATED ALWAYS AS ((metadata->>'index')::integer) STORED,
          hash text GENERATED ALWAYS AS (metadata->>'hash') STORED
        );
        CREATE INDEX chunks_paper ON ${s}.chunks (paper_id, idx);
        CREATE INDEX chunks_hash ON ${s}.chunks (hash);
        CREATE TABLE ${s}.writer (
          id boolean PRIMARY KEY DEFAULT true CHECK (id),
          token text NOT NULL,
          holder text NOT NULL,
          pid integer NOT NULL,
          acquired_at timestamptz NOT NULL,
          heartbeat_at timestamptz NOT NULL
        );
        CREATE TABLE ${s}.notes (name text PRIMARY KEY, version bigint NOT NULL, value jsonb NOT NULL);
      `)
    },
  },
  {
    version: 2,
    name: 'keyword leg: term statistics and tsvector',
    async up(client, schema) {
      const s = q(schema)
      await client.query(`
        ALTER TABLE ${s}.papers ADD COLUMN kw_length integer NOT NULL DEFAULT 0;
        ALTER TABLE ${s}.papers ADD COLUMN search tsvector GENERATED ALWAYS AS (
          setweight(to_tsvector('english', coalesce(record->>'title', '')), 'A') ||
          setweight(to_tsvector('english', coalesce(record->>'plainAbstract', '')), 'B')) STORED;
        CREATE INDEX papers_search ON ${s}.papers USING gin (search);
        ALTER TABLE ${s}.chunks ADD COLUMN kw_length integer NOT NULL DEFAULT 0;
        CREATE TABLE ${s}.paper_terms (term text NOT NULL, paper_id text NOT NULL, tf integer NOT NULL, PRIMARY KEY (term, paper_id));
        CREATE INDEX paper_terms_paper ON ${s}.paper_terms (paper_id);
        CREATE TABLE ${s}.chunk_terms (term text NOT NULL, chunk_id text NOT NULL, tf integer NOT NULL, PRIMARY KEY (term, chunk_id));
        CREATE INDEX chunk_terms_chunk ON ${s}.chunk_terms (chunk_id);
        ALTER TABLE ${s}.corpus ADD COLUMN paper_length bigint NOT NULL DEFAULT 0;
        ALTER TABLE ${s}.corpus ADD COLUMN chunk_length bigint NOT NULL DEFAULT 0;
      `)
      // Rows written by version 1 get their term statistics here, with the same tokenizer as new writes.
      const papers = await client.query<{ id: string; title: string; abstract: string }>(
        `SELECT id, record->>'title' AS title, record->>'plainAbstract' AS abstract FROM ${s}.papers`,
      )
      await writePaperTerms(client, schema, papers.rows.map((p) => ({ id: p.id, title: p.title, plainAbstract: p.abstract })))
      const chunks = await client.query<{ id: string; text: string }>(`SELECT id, text FROM ${s}.chunks`)
      await writeChunkTerms(client, schema, chunks.rows)
      await refreshCorpusCounts(client, schema)
    },
  },
  {
    version: 3,
    name: 'document frequencies kept per term; chunk BM25 from the chunk texts',
    async up(client, schema) {
      const s = q(schema)
      // A term's document frequency read from one row, not counted over its postings (100 k of them
      // for a common word at 100 k papers); each posting carries its document's length, so BM25 needs
      // no join. Chunk term rows go: chunk scores are computed from the few chunks scored (their texts).
      await client.query(`
        CREATE TABLE ${s}.paper_df (term text PRIMARY KEY, df integer NOT NULL);
        INSERT INTO ${s}.paper_df SELECT term, count(*) FROM ${s}.paper_terms GROUP BY term;
        CREATE TABLE ${s}.chunk_df (term text PRIMARY KEY, df integer NOT NULL);
        INSERT INTO ${s}.chunk_df SELECT term, count(*) FROM ${s}.chunk_terms GROUP BY term;
        DROP TABLE ${s}.chunk_terms;
        ALTER TABLE ${s}.paper_terms ADD COLUMN dl integer NOT NULL DEFAULT 0;
        UPDATE ${s}.paper_terms t SET dl = p.kw_length FROM ${s}.papers p WHERE p.id = t.paper_id;
        ALTER TABLE ${s}.papers ADD COLUMN title_key text;
        CREATE INDEX papers_title_key ON ${s}.papers (title_key);
      `)
      // An ingest's diff looks papers up by normalised title (the corpus's own `normaliseTitle`, in JS).
      const titles = await client.query<{ id: string; title: string }>(`SELECT id, record->>'title' AS title FROM ${s}.papers`)
      if (titles.rows.length > 0) {
        await client.query(`UPDATE ${s}.papers p SET title_key = u.k FROM unnest($1::text[], $2::text[]) AS u(id, k) WHERE p.id = u.id`, [titles.rows.map((r) => r.id), titles.rows.map((r) => normaliseTitle(r.title ?? ''))])
      }
    },
  },
  {
    version: 4,
    name: 'term rows keyed with their BM25 columns',
    async up(client, schema) {
      // The keyword leg reads (term, paper_id, tf, dl) only: with tf and dl in the key's index, its
      // scans and probes never visit the table (measured at 100 k papers on PostgreSQL 15, keyword
      // p95 109 → 40 ms).
      await client.query(`ALTER TABLE ${q(schema)}.paper_terms DROP CONSTRAINT paper_terms_pkey, ADD CONSTRAINT paper_terms_pkey PRIMARY KEY (term, paper_id) INCLUDE (tf, dl)`)
    },
  },
]

export const LATEST = MIGRATIONS.at(-1)!.version

/** Term rows and lengths (title×2 + abstract) of papers whose old rows are gone (deleted or never written). */
export async function writePaperTerms(client: pg.ClientBase, schema: string, papers: readonly { id: string; title: string; plainAbstract: string }[]): Promise<void> {
  await writeTerms(client, `${q(schema)}.papers`, `${q(schema)}.paper_terms`, 'paper_id', papers.map((p) => ({ id: p.id, fields: paperFields(p) })))
}

/** Term rows and lengths of chunks (one field, weight 1), as the embedded chunk-level BM25 counts them. */
export async function writeChunkTerms(client: pg.ClientBase, schema: string, chunks: readonly { id: string; text: string }[]): Promise<void> {
  await writeTerms(client, `${q(schema)}.chunks`, `${q(schema)}.chunk_terms`, 'chunk_id', chunks.map((c) => ({ id: c.id, fields: [{ text: c.text, weight: 1 }] })))
}

async function writeTerms(client: pg.ClientBase, table: string, terms: string, idColumn: string, docs: readonly { id: string; fields: { text: string; weight: number }[] }[]): Promise<void> {
  if (docs.length === 0) return
  const rows = { term: [] as string[], id: [] as string[], tf: [] as number[] }
  const lengths: number[] = []
  for (const doc of docs) {
    const { tf, length } = termFrequencies(doc.fields)
    lengths.push(length)
    for (const [term, f] of tf) {
      rows.term.push(term)
      rows.id.push(doc.id)
      rows.tf.push(f)
    }
  }
  await client.query(`UPDATE ${table} t SET kw_length = u.l FROM unnest($1::text[], $2::integer[]) AS u(id, l) WHERE t.id = u.id`, [docs.map((d) => d.id), lengths])
  if (rows.term.length > 0) await client.query(`INSERT INTO ${terms} (term, ${idColumn}, tf) SELECT * FROM unnest($1::text[], $2::text[], $3::integer[])`, [rows.term, rows.id, rows.tf])
}

/** Paper and chunk counts and total keyword lengths (BM25's N and average lengths), from the rows themselves. */
export async function refreshCorpusCounts(client: pg.ClientBase, schema: string): Promise<void> {
  const s = q(schema)
  await client.query(`
    UPDATE ${s}.corpus SET
      papers = (SELECT count(*) FROM ${s}.papers),
      chunks = (SELECT count(*) FROM ${s}.chunks),
      paper_length = (SELECT coalesce(sum(kw_length), 0) FROM ${s}.papers),
      chunk_length = (SELECT coalesce(sum(kw_length), 0) FROM ${s}.chunks)`)
}

/** Advisory-lock keys: (namespace, schema) pairs, so several corpora in one database lock independently. */
export const LOCK_NAMESPACE = { write: 0x61736b70, migrate: 0x61736b71 } as const

/**
 * Brings the schema up to `to` (default LATEST): each pending migration in its own transaction,
 * under a transaction-level advisory lock so that two processes opening a new database at once do
 * not both run it. Returns the version the schema is at afterwards.
 */
export async function migrate(client: pg.ClientBase, schema: string, { to = LATEST }: { to?: number } = {}): Promise<number> {
  const s = q(schema)
  let version = 0
  for (;;) {
    await client.query('BEGIN')
    try {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_NAMESPACE.migrate, schema])
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`)
      await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
      const applied = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${s}.schema_migrations`)
      version = applied.rows[0]?.v ?? 0
      if (version > LATEST) {
        throw new AppError('CONFIG', `The database schema "${schema}" is at version ${version}, newer than this askpapers understands (${LATEST}); upgrade askpapers.`)
      }
      const next = MIGRATIONS.find((m) => m.version === version + 1)
      if (!next || next.version > to) {
        await client.query('COMMIT')
        return version
      }
      // A migration rewrites tables of any size: no statement timeout cuts it off half-way.
      await client.query('SET LOCAL statement_timeout = 0')
      await next.up(client, schema)
      await client.query(`INSERT INTO ${s}.schema_migrations (version, name) VALUES ($1, $2)`, [next.version, next.name])
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw error
    }
  }
}

/** Documents' term rows and keyword lengths, counted once in JS (the embedded BM25's `termFrequencies`). */
export interface TermRows {
  lengths: Map<string, number>
  term: string[]
  id: string[]
  tf: number[]
  /** Per term, the documents containing it (document-frequency deltas). */
  df: Map<string, number>
}

export function termRows(docs: readonly { id: string; fields: { text: string; weight: number }[] }[]): TermRows {
  const out: TermRows = { lengths: new Map(), term: [], id: [], tf: [], df: new Map() }
  for (const doc of docs) {
    const { tf, length } = termFrequencies(doc.fields)
    out.lengths.set(doc.id, length)
    for (const [term, f] of tf) {
      out.term.push(term)
      out.id.push(doc.id)
      out.tf.push(f)
      out.df.set(term, (out.df.get(term) ?? 0) + 1)
    }
  }
  return out
}

/**
 * Rows go in as unnest() of array parameters, a slice per statement: one statement per row is a
 * round trip each, and one huge message is slow through pglite-socket (it re-concatenates its
 * input buffer on every socket read, so a message's cost grows with its square).
 */
export const ROWS_PER_STATEMENT = 20_000

/** Paper term rows, each with its paper's keyword length. */
export async function insertPaperTerms(client: pg.ClientBase, schema: string, rows: TermRows): Promise<void> {
  for (let i = 0; i < rows.term.length; i += ROWS_PER_STATEMENT) {
    const end = i + ROWS_PER_STATEMENT
    const ids = rows.id.slice(i, end)
    await client.query(`INSERT INTO ${q(schema)}.paper_terms (term, paper_id, tf, dl) SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::integer[])`, [
      rows.term.slice(i, end),
      ids,
      rows.tf.slice(i, end),
      ids.map((id) => rows.lengths.get(id) ?? 0),
    ])
  }
}

/** Moves the document frequencies in `table` (paper_df or chunk_df) by `delta` per term. */
export async function addDocumentFrequencies(client: pg.ClientBase, schema: string, table: 'paper_df' | 'chunk_df', delta: ReadonlyMap<string, number>): Promise<void> {
  const terms = [...delta.keys()]
  for (let i = 0; i < terms.length; i += ROWS_PER_STATEMENT) {
    const slice = terms.slice(i, i + ROWS_PER_STATEMENT)
    await client.query(
      `INSERT INTO ${q(schema)}.${table} AS d (term, df) SELECT * FROM unnest($1::text[], $2::integer[]) ON CONFLICT (term) DO UPDATE SET df = d.df + excluded.df`,
      [slice, slice.map((t) => delta.get(t) ?? 0)],
    )
  }
}
