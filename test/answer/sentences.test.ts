import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { splitSentences } from '../../src/answer/sentences.js'

const seedLines = ['000_45a52416460ecdf0', '001_27e1f35541f4bc66', '002_abaebc348fccd9e1'].flatMap((name) =>
  readFileSync(new URL(`../../seeds/${name}.txt`, import.meta.url), 'utf8').split('\n'),
)

describe('splitSentences', () => {
  it.each<[string, string, string[]]>([
    [
      'e.g., i.e. and decimals',
      'Extensive experiments and in-depth investigations, with diverse network backbones (i.e., BERT, RoBERTa, and GPT-2) on dozens of datasets, consistently demonstrate impressive parameter-/inference-efficiency, while maintaining competitive downstream performance. For instance, DSEE saves about 25% inference FLOPs while achieving comparable performance, with 0.5% trainable parameters on BERT. Codes are available in https://github.com/VITA-Group/DSEE.',
      [
        'Extensive experiments and in-depth investigations, with diverse network backbones (i.e., BERT, RoBERTa, and GPT-2) on dozens of datasets, consistently demonstrate impressive parameter-/inference-efficiency, while maintaining competitive downstream performance.',
        'For instance, DSEE saves about 25% inference FLOPs while achieving comparable performance, with 0.5% trainable parameters on BERT.',
        'Codes are available in https://github.com/VITA-Group/DSEE.',
      ],
    ],
    [
      '"e.g." before a capital letter',
      'The pretrain-finetune paradigm has shown outstanding performance on many applications of deep learning, where a model is pre-trained on a upstream large dataset (e.g. ImageNet), and is then fine-tuned to different downstream tasks.',
      [
        'The pretrain-finetune paradigm has shown outstanding performance on many applications of deep learning, where a model is pre-trained on a upstream large dataset (e.g. ImageNet), and is then fine-tuned to different downstream tasks.',
      ],
    ],
    [
      '"et al." before a year in brackets',
      'On the theoretical side, we give a simple example where the "min-degree-interpolator" model of learning from Abbe et al. (2023) does not correctly predict Transformers\' out-of-distribution behavior, but our conjecture does. Overall, our work provides a novel perspective on the mechanisms of compositional generalization and the algorithmic capabilities of Transformers.',
      [
        'On the theoretical side, we give a simple example where the "min-degree-interpolator" model of learning from Abbe et al. (2023) does not correctly predict Transformers\' out-of-distribution behavior, but our conjecture does.',
        'Overall, our work provides a novel perspective on the mechanisms of compositional generalization and the algorithmic capabilities of Transformers.',
      ],
    ],
    [
      '"vs." between decimals and before a capital letter',
      'We trained the model with 10 billion parameters on a 4TB corpus consisting of plain texts and a large-scale knowledge graph. Empirical results show that the model outperforms the state-of-the-art models on 54 Chinese NLP tasks, and its English version achieves the first place on the SuperGLUE benchmark (July 3, 2021), surpassing the human performance by +0.8% (90.6% vs. 89.8%). MPNet leverages the dependency among predicted tokens through permuted language modeling (vs. MLM in BERT), and takes auxiliary position information as input.',
      [
        'We trained the model with 10 billion parameters on a 4TB corpus consisting of plain texts and a large-scale knowledge graph.',
        'Empirical results show that the model outperforms the state-of-the-art models on 54 Chinese NLP tasks, and its English version achieves the first place on the SuperGLUE benchmark (July 3, 2021), surpassing the human performance by +0.8% (90.6% vs. 89.8%).',
        'MPNet leverages the dependency among predicted tokens through permuted language modeling (vs. MLM in BERT), and takes auxiliary position information as input.',
      ],
    ],
    [
      '"i.e." before a number, and a number ending a sentence',
      'The results show that standard SFT can lead to an average performance drop of up to 4.4 on multiple benchmarks, such as MMLU and TruthfulQA. In contrast, S3FT reduces this drop by half, i.e. 2.5, indicating better generalization capabilities than SFT while performing significantly better on the fine-tuning tasks.',
      [
        'The results show that standard SFT can lead to an average performance drop of up to 4.4 on multiple benchmarks, such as MMLU and TruthfulQA.',
        'In contrast, S3FT reduces this drop by half, i.e. 2.5, indicating better generalization capabilities than SFT while performing significantly better on the fine-tuning tasks.',
      ],
    ],
    [
      '"etc." ending a sentence',
      'We conduct an empirical analysis by training Transformer models on a variety of training sets with different data factors, including dataset scale, pattern complexity, example difficulty, etc. First, we show that increased dataset complexity can lead to better generalization behavior on multiple different generalization challenges.',
      [
        'We conduct an empirical analysis by training Transformer models on a variety of training sets with different data factors, including dataset scale, pattern complexity, example difficulty, etc.',
        'First, we show that increased dataset complexity can lead to better generalization behavior on multiple different generalization challenges.',
      ],
    ],
    [
      'a month abbreviation before a year, and a bracketed section label',
      'During fine-tuning, several advanced techniques such as transductive fine-tuning, self-calibrated fine-tuning, and adversarial fine-tuning are adopted. [Results] According to our submission record (Jan. 2022), with our optimized pretraining and fine-tuning strategies, our model sets new state-of-the-art on 4/9 tasks.',
      [
        'During fine-tuning, several advanced techniques such as transductive fine-tuning, self-calibrated fine-tuning, and adversarial fine-tuning are adopted.',
        '[Results] According to our submission record (Jan. 2022), with our optimized pretraining and fine-tuning strategies, our model sets new state-of-the-art on 4/9 tasks.',
      ],
    ],
    [
      'a question, and a full stop before lower case',
      "Language model (LM) pre-training is useful in many language processing tasks. But can pre-trained LMs be further leveraged for more general machine learning problems? We show two important aspects of model abilities: (1). there exists a very complex balance/ tradeoff between language models' multi-dimensional abilities; (2). by paying the price of decreased generic ability, we can clearly lift up the scaling curve of models smaller than 10B.",
      [
        'Language model (LM) pre-training is useful in many language processing tasks.',
        'But can pre-trained LMs be further leveraged for more general machine learning problems?',
        "We show two important aspects of model abilities: (1). there exists a very complex balance/ tradeoff between language models' multi-dimensional abilities; (2). by paying the price of decreased generic ability, we can clearly lift up the scaling curve of models smaller than 10B.",
      ],
    ],
    [
      'a model size or dataset name ending a sentence, and "U.S."',
      'Finally, we apply FLAN instruction tuning to the UL2 20B model, achieving MMLU and Big-Bench scores competitive to FLAN-PaLM 62B. We release Flax-based T5X checkpoints for the UL2 20B & Flan-UL2 20B. FlowAug achieves more consistent subgroup results on CIFAR10/100-C. Additionally, we use the American Community Survey (ACS) by the U.S. Census Bureau.',
      [
        'Finally, we apply FLAN instruction tuning to the UL2 20B model, achieving MMLU and Big-Bench scores competitive to FLAN-PaLM 62B.',
        'We release Flax-based T5X checkpoints for the UL2 20B & Flan-UL2 20B.',
        'FlowAug achieves more consistent subgroup results on CIFAR10/100-C.',
        'Additionally, we use the American Community Survey (ACS) by the U.S. Census Bureau.',
      ],
    ],
    [
      'initials, "Fig." and "approx."',
      'As A. Vaswani and N. Shazeer showed, attention suffices! See Fig. 2 for approx. 3 times fewer FLOPs. They call it "grokking." Later work disagrees.',
      [
        'As A. Vaswani and N. Shazeer showed, attention suffices!',
        'See Fig. 2 for approx. 3 times fewer FLOPs.',
        'They call it "grokking."',
        'Later work disagrees.',
      ],
    ],
    [
      'citation markers after the full stop',
      'DSEE enforces sparse low-rank updates. [1] Meta-training retrieves demonstrations. [2][3] It fits on one GPU. [2, 4]',
      [
        'DSEE enforces sparse low-rank updates. [1]',
        'Meta-training retrieves demonstrations. [2][3]',
        'It fits on one GPU. [2, 4]',
      ],
    ],
    [
      'a non-citation bracket after the full stop',
      'BERT prepends a special token. [CLS] collects the sentence meaning.',
      ['BERT prepends a special token.', '[CLS] collects the sentence meaning.'],
    ],
    [
      'paragraphs, bullets, numbered items and headings',
      '## Summary\nTwo approaches cut the cost:\n\n- DSEE uses sparsity [1]\n- Meta-training retrieves demonstrations [2]. It is fast.\n\n1. First item\n2. Second item.\n\nIn short, both help.',
      [
        '## Summary',
        'Two approaches cut the cost:',
        '- DSEE uses sparsity [1]',
        '- Meta-training retrieves demonstrations [2].',
        'It is fast.',
        '1. First item',
        '2. Second item.',
        'In short, both help.',
      ],
    ],
    ['a hard-wrapped sentence', 'Pretraining from scratch\nresults in substantial gains [3].\nIt needs abundant text.', ['Pretraining from scratch results in substantial gains [3].', 'It needs abundant text.']],
    ['nothing', ' \n\n ', []],
  ])('splits %s', (_name, text, expected) => {
    expect(splitSentences(text)).toStrictEqual(expected)
  })

  it('loses no text of any seed line', () => {
    for (const line of seedLines) expect(splitSentences(line).join(' ')).toBe(line.replace(/\s+/g, ' ').trim())
  })
})
