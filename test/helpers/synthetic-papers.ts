/**
 * A deterministic synthetic corpus for tests that need many papers: realistic-looking, all
 * distinct titles and abstracts, the same for the same seed on every machine.
 *
 *   const rnd = seededRandom(42)
 *   const papers = syntheticPapers(2000, 42)   // [{ title, abstract }, …]
 *
 * Abstracts are three or four sentences (~400–600 characters): two chunks each at 300 characters.
 */

/**
 * mulberry32: a tiny seeded PRNG (uniform in [0, 1)). Hand-written because `Math.random` cannot be
 * seeded and a test only needs a reproducible stream, not statistical quality.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const METHODS = [
  'Sparse Mixture-of-Experts', 'Low-Rank Adaptation', 'Contrastive Pretraining', 'Diffusion Models', 'State-Space Models', 'Retrieval-Augmented Generation',
  'Graph Neural Networks', 'Knowledge Distillation', 'Speculative Decoding', 'Linear Attention', 'Quantization-Aware Training', 'Masked Autoencoders',
  'Direct Preference Optimization', 'Prompt Tuning', 'Neural Radiance Fields', 'Vision Transformers', 'Curriculum Learning', 'Test-Time Adaptation',
  'Chain-of-Thought Prompting', 'Rotary Position Embeddings', 'Model Merging', 'Federated Averaging', 'Energy-Based Models', 'Normalizing Flows',
  'Sharpness-Aware Minimization', 'Weight Decay Schedules', 'Token Pruning', 'Flash Attention', 'Self-Consistency Sampling', 'Reward Modeling',
]
const TASKS = [
  'Long-Context Question Answering', 'Protein Structure Prediction', 'Code Generation', 'Machine Translation', 'Open-Domain Retrieval', 'Speech Recognition',
  'Text-to-Image Synthesis', 'Mathematical Reasoning', 'Time-Series Forecasting', 'Molecule Generation', 'Video Understanding', 'Robotic Manipulation',
  'Summarization of Scientific Articles', 'Tabular Classification', 'Named Entity Recognition', 'Dense Passage Ranking', 'Semantic Segmentation',
  'Weather Forecasting', 'Theorem Proving', 'Dialogue State Tracking', 'Recommendation', 'Anomaly Detection', 'Image Captioning', 'Program Repair',
]
const ADJECTIVES = ['Efficient', 'Robust', 'Scalable', 'Faithful', 'Calibrated', 'Compositional', 'Data-Efficient', 'Interpretable', 'Adaptive', 'Private', 'Multilingual', 'Lightweight']
const PROPERTIES = ['Stability', 'Sample Complexity', 'Generalization', 'Memorization', 'Calibration', 'Emergent Behaviour', 'Robustness', 'Scaling Behaviour']
const DATASETS = ['GSM8K', 'MMLU', 'ImageNet-1k', 'HumanEval', 'Natural Questions', 'LibriSpeech', 'COCO', 'WMT-19', 'MS MARCO', 'PDBbind', 'BEIR', 'ETTh1']
const PROBLEMS = [
  'existing models degrade sharply on inputs longer than those seen in training',
  'labelled data is scarce and expensive to collect',
  'inference cost grows quadratically with the input length',
  'benchmarks reward memorization more than reasoning',
  'small errors compound over long generation horizons',
  'models are poorly calibrated under distribution shift',
  'fine-tuning every parameter is prohibitively expensive',
]
const MECHANISMS = [
  'routes each token to a small subset of specialised blocks',
  'reuses cached activations across decoding steps',
  'learns a compact latent code shared across tasks',
  'interleaves retrieval with generation at every layer',
  'regularises the loss landscape towards flat minima',
  'distils a large teacher into a model ten times smaller',
  'replaces softmax attention with a kernelised approximation',
  'selects training examples by their estimated difficulty',
]
const RESOURCES = ['memory', 'compute', 'training data', 'labelled examples', 'wall-clock time', 'energy']
const BASELINES = ['the strongest published baseline', 'a dense model of equal size', 'full fine-tuning', 'prior state of the art', 'a carefully tuned transformer']
const CLOSINGS = [
  'We release code, checkpoints and evaluation scripts.',
  'Ablations show that each component contributes to the gains.',
  'Our analysis suggests the gains persist at larger scales.',
  'Failure cases point to directions for future work.',
]
const SYLLABLES = ['ka', 'lo', 'mi', 'ren', 'sa', 'tor', 'vi', 'zen', 'dra', 'flo', 'gra', 'ny', 'qu', 'xel', 'pha', 'bri']

/** `count` distinct papers (title and abstract) generated from `seed`. */
export function syntheticPapers(count: number, seed: number): { title: string; abstract: string }[] {
  const rnd = seededRandom(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T
  const seen = new Set<string>()
  const out: { title: string; abstract: string }[] = []
  while (out.length < count) {
    const name = `${Array.from({ length: 2 + Math.floor(rnd() * 2) }, () => pick(SYLLABLES)).join('').replace(/^./, (c) => c.toUpperCase())}-${1 + Math.floor(rnd() * 9)}`
    const [method, task, adjective] = [pick(METHODS), pick(TASKS), pick(ADJECTIVES)]
    const title = pick([
      () => `${name}: ${adjective} ${method} for ${task}`,
      () => `${adjective} ${task} with ${method} (${name})`,
      () => `On the ${pick(PROPERTIES)} of ${method} in ${task}: the ${name} Study`,
      () => `Towards ${adjective} ${task}: ${name} and ${method}`,
      () => `${name}: Revisiting ${method} for ${adjective} ${task}`,
    ])()
    // Ids and duplicates are decided on the normalised title (see src/corpus): keep those distinct too.
    const key = title.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim()
    if (seen.has(key)) continue
    seen.add(key)
    const gain = (0.5 + rnd() * 9).toFixed(1)
    const factor = 2 + Math.floor(rnd() * 7)
    const sentences = [
      `${task} remains challenging because ${pick(PROBLEMS)}.`,
      `We propose ${name}, a ${adjective.toLowerCase()} variant of ${method.toLowerCase()} that ${pick(MECHANISMS)}.`,
      `On ${pick(DATASETS)} and ${pick(DATASETS)}, ${name} improves accuracy by ${gain} points over ${pick(BASELINES)} while using ${factor} times less ${pick(RESOURCES)}.`,
      ...(rnd() < 0.6 ? [pick(CLOSINGS)] : []),
    ]
    out.push({ title, abstract: sentences.join(' ') })
  }
  return out
}
