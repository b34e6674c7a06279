import { describe, expect, it } from 'vitest'
import { cleanLatex, defaultSeedDir, loadPapers } from '../../src/corpus/index.js'

describe('cleanLatex', () => {
  it.each([
    // Escaped characters.
    ['achieve 90\\% of the full performance', 'achieve 90% of the full performance'],
    ['learning only 0.1\\% of the parameters', 'learning only 0.1% of the parameters'],
    ['accuracy gains (12-38\\%) over', 'accuracy gains (12-38%) over'],
    ['at a budget of \\$800 each', 'at a budget of $800 each'],
    ['Q\\&A pairs', 'Q&A pairs'],
    ['count\\_token', 'count_token'],
    ["aggregates an object\\'s potential", "aggregates an object's potential"],
    // `\times`, and `times` glued to a number once the scraper dropped its backslash.
    ['weight decay is 30times larger', 'weight decay is 30× larger'],
    ['using 5.17times less data', 'using 5.17× less data'],
    ['a student model that is 8times smaller', 'a student model that is 8× smaller'],
    ['requiring 2times fewer tokens', 'requiring 2× fewer tokens'],
    ['up to 5.3times and up to 6.8times, while', 'up to 5.3× and up to 6.8×, while'],
    ['a $30\\times$ speed-up', 'a 30× speed-up'],
    ['is 30\\times larger', 'is 30× larger'],
    ['$3 \\times 4$ grid', '3 × 4 grid'],
    // Formatting commands keep their argument, with or without the backslash.
    ['the \\textbf{best} model', 'the best model'],
    ['the \\textit{best} model', 'the best model'],
    ['the \\emph{best} model', 'the best model'],
    ['the \\texttt{best} model', 'the best model'],
    ['the $\\mathbf{W}$ matrix', 'the W matrix'],
    ['a $\\mathrm{softmax}$ layer', 'a softmax layer'],
    ['fine-tuning of $textbf{specialist} and textbf{generalist}$ models.', 'fine-tuning of specialist and generalist models.'],
    ['Lion (Evo\\textbf{Lved Sign Momentum}). It', 'Lion (EvoLved Sign Momentum). It'],
    ['which remains \\textit{agnostic to the hyper-parameters}. Antidote', 'which remains agnostic to the hyper-parameters. Antidote'],
    ['the {\\bf best} model', 'the best model'],
    ['a sampling scheme, \\bf mix-cd, that', 'a sampling scheme, mix-cd, that'],
    ['\\textbf{a {nested} group}', 'a nested group'],
    // Abbreviation macros.
    ['the learning process, \\eg, from an hour', 'the learning process, e.g., from an hour'],
    ['new contexts (\\eg text prompts)', 'new contexts (e.g. text prompts)'],
    ['one task, \\ie the first', 'one task, i.e. the first'],
    ['apples, pears, \\etc. We', 'apples, pears, etc. We'],
    ['apples, pears \\etc, and', 'apples, pears etc., and'],
    // `~` ties words; citations and labels go with the space before them.
    ['as shown in Fig.~3', 'as shown in Fig. 3'],
    ['Smith et al.~\\cite{smith2020} show', 'Smith et al. show'],
    ['as in prior work \\citep{a, b}.', 'as in prior work.'],
    ['Our code is publicly available at~https://github.com/rabeehk/compacter.', 'Our code is publicly available at https://github.com/rabeehk/compacter.'],
    // Inline math.
    ['improves by $\\sim$10 points', 'improves by ~10 points'],
    ['$\\leq$ 5 steps', '≤ 5 steps'],
    ['$\\geq$ 5 steps', '≥ 5 steps'],
    ['$\\alpha$, $\\beta$, $\\gamma$, $\\lambda$, $\\theta$, $\\Delta$', 'α, β, γ, λ, θ, Δ'],
    ['an area of 3 m$^{2}$', 'an area of 3 m^2'],
    ['x^{2} and x^2', 'x^2 and x^2'],
    ['$x^{n+1}$ and $\\beta_{2}$', 'x^(n+1) and β_2'],
    ['$a \\cdot b$', 'a · b'],
    ['a gain of 2.1 $\\pm$ 0.3', 'a gain of 2.1 ± 0.3'],
    ['A $\\rightarrow$ B and A $\\to$ B', 'A → B and A → B'],
    ['$O(n)$ memory and $n$ layers', 'O(n) memory and n layers'],
    ['$\\frac{1}{2}$ of the data', '1/2 of the data'],
    ['$\\{0, 1\\}$ labels', '{0, 1} labels'],
    ['$\\alpha$ costs $800', 'α costs $800'],
    // Braces that only group.
    [
      'the 1st place on {Zh-En (33.5), En-Zh (49.7)}, 2nd place on {En-Ja(41.5)}, respectively',
      'the 1st place on Zh-En (33.5), En-Zh (49.7), 2nd place on En-Ja(41.5), respectively',
    ],
    // A macro the paper defined itself is its name.
    ['Additionally, \\model models can be found', 'Additionally, model models can be found'],
    ['we call it \\model{}.', 'we call it model.'],
    // Accents, and a backslash with nothing known after it.
    ['G\\"odel and caf\\\'e', 'Gödel and café'],
    ['a budget of just 187 and \\800 each', 'a budget of just 187 and 800 each'],
    ['a trailing backslash \\', 'a trailing backslash'],
  ])('cleanLatex(%j) is %j', (input, expected) => {
    expect(cleanLatex(input)).toBe(expected)
  })

  it.each([
    'Understanding and accurately following instructions is critical for large language models (LLMs).',
    'It is three times faster.',
    'It is 2 times faster.',
    'Decoding 10timesteps ahead.',
    'It costs $5 per hour.',
    'It costs between $5 and $10.',
    'It costs $5-$10.',
    'It costs US$ 5 and US$ 10.',
    'at a cost of roughly $20. We plot',
    'e.g. this, i.e. that, etc.',
    'while only using ~10% of their trainable parameters',
    'in the range of ~ 0.2 - 0.37 (~ 0.1- 0.26)',
    'large (~billion parameters)',
    'models with only 1M~60M parameters',
    'https://www.example.edu/~user/page',
    '{"a": 1}',
    'a config like {x: 1} or {}',
    'emphasizing the importance of data',
    'efficient -- and data -- efficient',
    // TeX quotes read well enough as they are, and the seed test counts them as plain text.
    "learning the ``soft prompts'' to condition",
  ])('leaves %j unchanged', (text) => {
    expect(cleanLatex(text)).toBe(text)
  })
})

describe('cleanLatex over the shipped seed abstracts', () => {
  const abstracts = async (): Promise<string[]> => (await loadPapers([defaultSeedDir()])).papers.map((p) => p.abstract)

  it('leaves no backslash, no textbf and no number glued to times', async () => {
    const all = await abstracts()
    expect(all).toHaveLength(317)
    expect(all.map(cleanLatex).filter((text) => /\\|textbf|\dtimes/.test(text))).toStrictEqual([])
  })

  it('returns every abstract without LaTeX markers unchanged', async () => {
    const plain = (await abstracts()).filter((text) => !/[\\${}~]|\dtimes/.test(text))
    expect(plain.length).toBeGreaterThan(250)
    expect(plain.filter((text) => cleanLatex(text) !== text)).toStrictEqual([])
  })

  it('adds no double spaces', async () => {
    const doubled = (await abstracts()).filter((text) => !text.includes('  ') && cleanLatex(text).includes('  '))
    expect(doubled).toStrictEqual([])
  })
})
