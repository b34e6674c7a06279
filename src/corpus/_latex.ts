// Hand-written on purpose: no maintained npm package turns LaTeX fragments inside prose into plain text
// short of a full TeX parser (@unified-latex/*), which would still not know the scraper's damage
// (`30times` from `\times`, `$textbf{x}`); latex-to-unicode (a single 0.1.0 release) maps math symbols only.

/**
 * LaTeX leftovers in a scraped abstract (`90\%`, `\textbf{X}`, `$\alpha$`, `30times`, `\eg`) as plain text,
 * for display and keyword matching. Text with no LaTeX in it is returned unchanged: `three times`, `$5`,
 * `~10%`, `{"a": 1}` and `e.g.` stay as they are. No backslash survives.
 */
export function cleanLatex(text: string): string {
  if (!LATEX_HINT.test(text)) return text
  let out = replaceAll(text, BEFORE_MATH)
  out = unwrapInlineMath(out)
  out = replaceAll(out, SYMBOLS_AND_WORDS)
  // Innermost groups first, until none is left: `\textbf{a {b}}` needs two passes.
  for (let pass = 0; pass < 20; pass++) {
    const next = replaceAll(out, GROUPS)
    if (next === out) break
    out = next
  }
  out = replaceAll(out, LEFTOVERS)
  return closeGaps(out.replace(ESCAPED_CHAR, (placeholder) => ESCAPED.get(placeholder) ?? placeholder))
}

// Internals

// Groups that did not take part are `undefined`; the offset and input that follow them are not used.
type Replacer = (match: string, ...groups: (string | undefined)[]) => string
type Rule = readonly [RegExp, string | Replacer]

/** Any of these, or a digit glued to `times`, and the text may hold LaTeX; without them it is returned as is. */
const LATEX_HINT = /[\\${}~]|\dtimes(?![A-Za-z])/

/** Marks where something was removed, so closeGaps can mend the spacing there and only there. */
const REMOVED = '\uE000'

/** `\$`, `\%`, ... are parked as private-use characters so later rules read them as text, not as LaTeX. */
const ESCAPABLE = '$%&_#{}'
const ESCAPED = new Map([...ESCAPABLE].map((char, i) => [String.fromCharCode(0xe001 + i), char]))
const ESCAPED_CHAR = /[\uE001-\uE007]/g

const COMBINING: Readonly<Record<string, string>> = {
  "'": '\u0301', '`': '\u0300', '^': '\u0302', '"': '\u0308', '~': '\u0303',
}

const BEFORE_MATH: readonly Rule[] = [
  // `\\` (line break), `\ `, `\,`, `\;`, `\:`, `\quad`: a space.
  [/\\\\|\\[ ,;:]|\\q?quad(?![A-Za-z])/g, `${REMOVED} `],
  [/\\!/g, ''],
  [/\\([$%&_#{}])/g, (_, char = '') => String.fromCharCode(0xe001 + ESCAPABLE.indexOf(char))],
  // `Fig.~3`, `et al.~`, `at~https://`: a tie after a whole word is a space. `~10%` and `1M~60M` are not ties.
  [/(?<=(?<![\p{L}\p{N}])\p{L}+\.?)~(?=[^\s~])/gu, ' '],
  // `\'{e}`, `\"o` are accented letters; `\'s` (an escaped apostrophe, not an accent on s) is `'s`.
  [
    /\\(['`^"~])(?:\{(\p{L})\}|(\p{L}))/gu,
    (match, accent = '', braced, bare) => {
      const letter = braced ?? bare ?? ''
      const accented =
        braced !== undefined || /^[aeiouyAEIOUY]$/.test(letter) || (accent === '~' && /^[nN]$/.test(letter))
      return accented ? (letter + (COMBINING[accent] ?? '')).normalize('NFC') : match.slice(1)
    },
  ],
]

const SYMBOLS: Readonly<Record<string, string>> = {
  times: '×', cdot: '·', pm: '±', mp: '∓', div: '÷', circ: '∘', ast: '*',
  leq: '≤', le: '≤', geq: '≥', ge: '≥', neq: '≠', ne: '≠',
  approx: '≈', sim: '~', simeq: '≃', propto: '∝', equiv: '≡',
  ll: '≪', gg: '≫', infty: '∞', partial: '∂', nabla: '∇', sum: '∑', prod: '∏',
  in: '∈', notin: '∉', subset: '⊂', subseteq: '⊆', cup: '∪', cap: '∩', forall: '∀', exists: '∃',
  rightarrow: '→', to: '→', leftarrow: '←', gets: '←', Rightarrow: '⇒', Leftarrow: '⇐',
  leftrightarrow: '↔', Leftrightarrow: '⇔', uparrow: '↑', downarrow: '↓', mapsto: '↦',
  ldots: '...', cdots: '...', dots: '...',
  // `\left(` and `\right)` size their delimiter; the delimiter is what remains.
  left: '', right: '',
  alpha: 'α', beta: 'β', gamma: 'γ', delta: 'δ', epsilon: 'ε', varepsilon: 'ε', zeta: 'ζ', eta: 'η',
  theta: 'θ', vartheta: 'θ', iota: 'ι', kappa: 'κ', lambda: 'λ', mu: 'μ', nu: 'ν', xi: 'ξ', pi: 'π',
  rho: 'ρ', sigma: 'σ', tau: 'τ', upsilon: 'υ', phi: 'φ', varphi: 'φ', chi: 'χ', psi: 'ψ', omega: 'ω',
  Gamma: 'Γ', Delta: 'Δ', Theta: 'Θ', Lambda: 'Λ', Xi: 'Ξ', Pi: 'Π', Sigma: 'Σ', Upsilon: 'Υ',
  Phi: 'Φ', Psi: 'Ψ', Omega: 'Ω',
}

const ABBREVIATIONS: Readonly<Record<string, string>> = {
  eg: 'e.g.', ie: 'i.e.', etc: 'etc.', etal: 'et al.', vs: 'vs.', cf: 'cf.', wrt: 'w.r.t.',
}

const SYMBOLS_AND_WORDS: readonly Rule[] = [
  [/\^\{?\\circ\}?/g, '°'],
  // A period after `\etc` is the abbreviation's own: `\etc.` is `etc.`, not `etc..`.
  [/\\(eg|ie|etc|etal|vs|cf|wrt)(?![A-Za-z])(?:\{\})?\.?/g, (_, name = '') => ABBREVIATIONS[name] ?? name],
  [/\\([A-Za-z]+)(?![A-Za-z])(?:\{\})?/g, (match, name = '') => SYMBOLS[name] ?? match],
  // `30times larger`: the scraper dropped the backslash of `\times`. `2 times`, `10timesteps` are words.
  [/(\d)times(?![A-Za-z])/g, '$1×'],
]

/** Commands whose argument is shown as is; these also appear with their backslash lost (`$textbf{x}`). */
const FORMATTING = [
  'textbf', 'textit', 'texttt', 'textsc', 'textrm', 'textsf', 'emph', 'underline',
  'mathbf', 'mathrm', 'mathit', 'mathcal', 'mathbb', 'mathsf', 'mathtt', 'boldsymbol',
].join('|')
/** Font switches (`{\bf X}`, `\bf X`): they take no argument, so only they go. */
const SWITCHES = [
  'bf', 'it', 'em', 'tt', 'rm', 'sc', 'sf', 'sl',
  'bfseries', 'itshape', 'ttfamily', 'scshape', 'sffamily', 'rmfamily', 'mdseries', 'upshape', 'normalfont',
].join('|')

const GROUPS: readonly Rule[] = [
  // References and labels mean nothing without the paper around them.
  [/\\(?:cite[pt]?|citealp|label|ref|eqref|autoref)\*?(?:\[[^\]{}]*\])*\{[^{}]*\}/g, REMOVED],
  [/\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}/g, '$1/$2'],
  [/\\sqrt\{([^{}]*)\}/g, '√$1'],
  [/\\href\{[^{}]*\}\{([^{}]*)\}/g, '$1'],
  [new RegExp(`(?:\\\\|(?<![A-Za-z]))(?:${FORMATTING})\\{([^{}]*)\\}`, 'g'), '$1'],
  // `\model{}` names something (often the paper's own model): keep the name.
  [/\\([A-Za-z]+)\{\}/g, '$1'],
  // Any other `\cmd{X}` (`\url`, `\footnote`, `\text`, `\hat`): its argument.
  [/\\[A-Za-z]+\*?(?:\[[^\]{}]*\])?\{([^{}]*)\}/g, '$1'],
  [new RegExp(`\\{\\\\(?:${SWITCHES})(?![A-Za-z])\\s*([^{}]*)\\}`, 'g'), '$1'],
  // `^{2}` is `^2`; a longer exponent keeps its extent: `^{n+1}` is `^(n+1)`.
  [
    /([\^_])\{([^{}]*)\}/g,
    (_, mark = '', body = '') => (/^-?[\p{L}\p{N}.]*$/u.test(body) ? mark + body : `${mark}(${body})`),
  ],
  // Braces that only group (`on {Zh-En (33.5), En-Zh (49.7)}`) go; `{"a": 1}`, `{x: 1}`, `{}` and `word{x}` stay.
  [
    /(?<![\\\p{L}\p{N}^_])\{([^{}]*)\}/gu,
    (match, body = '') => (body === '' || /[":=]/.test(body) ? match : REMOVED + body + REMOVED),
  ],
]

const LEFTOVERS: readonly Rule[] = [
  [new RegExp(`\\\\(?:${SWITCHES})(?![A-Za-z])`, 'g'), REMOVED],
  // `\(x\)` and `\[x\]` delimit math like `$x$`.
  [/\\[()[\]]/g, ''],
  // A macro the paper defined for itself (`\model`): its name, the best reading there is without the preamble.
  [/\\([A-Za-z]+)\*?/g, '$1'],
  // Whatever is left (`\800`, a backslash at the end): never shown.
  [/\\/g, REMOVED],
]

function replaceAll(text: string, rules: readonly Rule[]): string {
  let out = text
  for (const [pattern, replacement] of rules) {
    out = typeof replacement === 'string' ? out.replace(pattern, replacement) : out.replace(pattern, replacement)
  }
  return out
}

/**
 * `$...$` and `$$...$$` lose their dollars. A `$` is money unless the span between it and the next `$`
 * reads as math, so `$5 and $10` and `US$ 5` stay while `$\sim$` and `$x$` are unwrapped.
 */
function unwrapInlineMath(text: string): string {
  const s = text.replace(/\$\$([^$]+)\$\$/g, '$1')
  let out = ''
  let copied = 0
  let open = s.indexOf('$')
  while (open !== -1) {
    const close = s.indexOf('$', open + 1)
    if (close === -1) break
    const body = s.slice(open + 1, close)
    if (looksLikeMath(body, s[close + 1])) {
      out += s.slice(copied, open) + body
      copied = close + 1
      open = s.indexOf('$', copied)
    } else {
      open = close
    }
  }
  return out + s.slice(copied)
}

function looksLikeMath(body: string, after: string | undefined): boolean {
  if (body === '' || body.length > 200 || body.includes('\n')) return false
  // An escaped character (`\{`, parked by now) is LaTeX as much as a command is.
  if (/[\\^_{}\uE001-\uE007]/.test(body)) return true
  // `$5-$10`, `$5 and $10`: two amounts of money, not `5-` and `5 and ` in math.
  if (body !== body.trim() || /^\d/.test(after ?? '')) return false
  return !/\s/.test(body) || (body.length <= 40 && /[=<>+]/.test(body))
}

/**
 * Mends the spacing where something was removed: one space between words, none at either end of the text,
 * before closing punctuation or after an opening bracket. Spacing elsewhere is left as it was.
 */
function closeGaps(text: string): string {
  // `et al.~\cite{x}.` would end in `..` once the citation is gone.
  const single = text.replace(/\.([ \t]*\uE000[ \t\uE000]*)\./g, '.$1')
  return single.replace(/[ \t]*\uE000[ \t\uE000]*/g, (run, offset: number, whole: string) => {
    const before = whole[offset - 1]
    const after = whole[offset + run.length]
    if (before === undefined || after === undefined || before === '\n' || after === '\n') return ''
    if (/[,.;:!?%)\]}]/.test(after) || /[([{]/.test(before)) return ''
    return /[ \t]/.test(run) ? ' ' : ''
  })
}
