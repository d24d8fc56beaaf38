"""CMRC 2018 span-extraction scoring, reproducing the official evaluation script.

Source: ymcui/cmrc2018, ``squad-style-data/cmrc2018_evaluate.py`` (v5 - special, Python 2). Behaviour kept as is:

* ``mixed_segmentation``: lowercase + strip; every character in ``[\\u4e00-\\u9fa5]`` or in the punctuation list is
  its own segment; each run of other characters is passed to ``nltk.word_tokenize``. With ``rm_punc`` (always on
  for F1) a punctuation character is dropped *without* ending the current run, so ``covid-19`` -> ``covid19``.
* The punctuation list ``_SP_CHAR`` is copied verbatim. It holds ``'……'`` (two characters), which never equals a
  single character, so ``…`` is NOT removed; ASCII ``. , ; ! ? ' "`` and ``‘`` are not in it either.
* ``remove_punctuation`` (EM): lowercase, strip, then drop listed characters (inner spaces are kept).
* ``find_lcs``: longest common contiguous *substring* of segments (not subsequence).
* F1 = max over references of 2PR/(P+R) with P = lcs/len(pred segs), R = lcs/len(ref segs), 0 when lcs is 0;
  EM = 1 if any reference equals the prediction after ``remove_punctuation``. Corpus F1/EM = 100 * mean over
  questions, unanswered questions counting 0; AVERAGE = (EM + F1) / 2.

Deviation: ``nltk.word_tokenize`` is replaced by a stdlib copy of the word tokenizer of nltk 3.4.5 (the last
release that runs under Python 2, i.e. under the official script): Treebank rules plus nltk's "improved" quote
and final-period patches, contractions included. Not copied: Punkt sentence splitting. So a run containing a
sentence-internal period (``end. next``) keeps ``end.`` as one token where nltk would split ``end`` ``.``; nltk's
``word_tokenize`` also changed in later releases (e.g. 3.5+ splits ``—``), so "the official number" is itself
tied to an nltk version. Checked against nltk 3.4.5 on every answer of the dev set.
Another difference: the official F1 crashes on a question with no references; here both metrics raise ValueError.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

_SP_CHAR = ('-', ':', '_', '*', '^', '/', '\\', '~', '`', '+', '=',
            '，', '。', '：', '？', '！', '“', '”', '；', '’', '《', '》', '……', '·', '、',
            '「', '」', '（', '）', '－', '～', '『', '』')  # verbatim from the official script
_CJK = re.compile('[\u4e00-\u9fa5]')
_A = re.ASCII  # nltk 3.4.5 patterns compiled without re.U behaved as ASCII-only under Python 2

# nltk 3.4.5 ``_treebank_word_tokenizer`` rules, in order: (pattern, flags, replacement).
_BEFORE = [  # STARTING_QUOTES (+ improved), PUNCTUATION (+ improved), PARENS_BRACKETS, DOUBLE_DASHES
    ('([«“‘„]|[`]+)', 0, r' \1 '), (r'^\"', _A, '``'), (r'(``)', _A, r' \1 '),
    (r"([ \(\[{<])(\"|\'{2})", _A, r'\1 `` '), (r"(?i)(\')(?!re|ve|ll|m|t|s|d)(\w)\b", 0, r'\1 \2'),
    (r'([^\.])(\.)([\]\)}>"\'' '»”’ ' r']*)\s*$', 0, r'\1 \2 \3 '),
    (r'([:,])([^\d])', _A, r' \1 \2'), (r'([:,])$', _A, r' \1 '), (r'\.\.\.', _A, ' ... '),
    (r'[;@#$%&]', _A, r' \g<0> '), (r'([^\.])(\.)([\]\)}>"\']*)\s*$', _A, r'\1 \2\3 '),
    (r'[?!]', _A, r' \g<0> '), (r"([^'])' ", _A, r"\1 ' "), (r'[\]\[\(\)\{\}\<\>]', _A, r' \g<0> '),
    (r'--', _A, r' -- '),
]
_AFTER = [  # ENDING_QUOTES (+ improved), CONTRACTIONS2, CONTRACTIONS3; applied to " " + text + " "
    ('([»”’])', 0, r' \1 '), (r'"', _A, " '' "), (r"(\S)(\'\')", _A, r'\1 \2 '),
    (r"([^' ])('[sS]|'[mM]|'[dD]|') ", _A, r'\1 \2 '),
    (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", _A, r'\1 \2 '),
] + [(p, _A, r' \1 \2 ') for p in (
    r"(?i)\b(can)(not)\b", r"(?i)\b(d)('ye)\b", r"(?i)\b(gim)(me)\b", r"(?i)\b(gon)(na)\b",
    r"(?i)\b(got)(ta)\b", r"(?i)\b(lem)(me)\b", r"(?i)\b(mor)('n)\b", r"(?i)\b(wan)(na)\s",
    r"(?i) ('t)(is)\b", r"(?i) ('t)(was)\b")]
_BEFORE_RE = [(re.compile(p, f), r) for p, f, r in _BEFORE]
_AFTER_RE = [(re.compile(p, f), r) for p, f, r in _AFTER]


def word_tokenize(text: str) -> list[str]:
    """Stand-in for ``nltk.word_tokenize`` (nltk 3.4.5, without Punkt sentence splitting)."""
    for regex, repl in _BEFORE_RE:
        text = regex.sub(repl, text)
    text = ' ' + text + ' '
    for regex, repl in _AFTER_RE:
        text = regex.sub(repl, text)
    return text.split()


def mixed_segmentation(in_str: str, rm_punc: bool = False) -> list[str]:
    in_str = str(in_str).lower().strip()
    segs_out: list[str] = []
    temp_str = ''
    for char in in_str:
        if rm_punc and char in _SP_CHAR:
            continue
        if _CJK.search(char) or char in _SP_CHAR:
            if temp_str != '':
                segs_out.extend(word_tokenize(temp_str))
                temp_str = ''
            segs_out.append(char)
        else:
            temp_str += char
    if temp_str != '':
        segs_out.extend(word_tokenize(temp_str))
    return segs_out


def remove_punctuation(in_str: str) -> str:
    return ''.join(c for c in str(in_str).lower().strip() if c not in _SP_CHAR)


def find_lcs(s1: Sequence[str], s2: Sequence[str]) -> tuple[Sequence[str], int]:
    """Longest common contiguous run of segments: (the run as found in s1, its length)."""
    m = [[0] * (len(s2) + 1) for _ in range(len(s1) + 1)]
    mmax = p = 0
    for i in range(len(s1)):
        for j in range(len(s2)):
            if s1[i] == s2[j]:
                m[i + 1][j + 1] = m[i][j] + 1
                if m[i + 1][j + 1] > mmax:
                    mmax, p = m[i + 1][j + 1], i + 1
    return s1[p - mmax:p], mmax


def cmrc_f1(references: Sequence[str], prediction: str) -> float:
    if not references:
        raise ValueError('CMRC F1 needs at least one reference answer')
    pred_segs = mixed_segmentation(prediction, rm_punc=True)
    scores = [0.0]
    for ans in references:
        ans_segs = mixed_segmentation(ans, rm_punc=True)
        _, lcs_len = find_lcs(ans_segs, pred_segs)
        if lcs_len:
            precision, recall = lcs_len / len(pred_segs), lcs_len / len(ans_segs)
            scores.append(2 * precision * recall / (precision + recall))
    return max(scores)


def cmrc_em(references: Sequence[str], prediction: str) -> float:
    if not references:
        raise ValueError('CMRC EM needs at least one reference answer')
    pred = remove_punctuation(prediction)
    return 1.0 if any(remove_punctuation(ans) == pred for ans in references) else 0.0


def cmrc_corpus_scores(items: Iterable[tuple[Sequence[str], str | None]]) -> dict[str, float]:
    """Official roll-up over (references, prediction) pairs; prediction None = unanswered (scores 0, counted)."""
    em = f1 = 0.0
    total = skip = 0
    for references, prediction in items:
        total += 1
        if prediction is None:
            skip += 1
            continue
        em += cmrc_em(references, prediction)
        f1 += cmrc_f1(references, prediction)
    em, f1 = (100.0 * em / total, 100.0 * f1 / total) if total else (0.0, 0.0)
    return {'AVERAGE': (em + f1) * 0.5, 'F1': f1, 'EM': em, 'TOTAL': total, 'SKIP': skip}


_PREFIX = re.compile(r'^(?:答案是|答案|答|answer)\s*[:：]\s*', re.IGNORECASE)
_QUOTES = (('「', '」'), ('『', '』'), ('“', '”'), ('‘', '’'), ('"', '"'), ("'", "'"), ('《', '》'))


def clean_span_prediction(text: str) -> str:
    """Chat answer -> span: first non-empty line; drop one '答案：'/'答案是：'/'答：'/'Answer:' prefix (ASCII or
    full-width colon); strip trailing '。' (and '.' right after a non-ASCII character, so 'U.S.' survives); drop one
    pair of surrounding quotes 「」『』“”‘’""'' or 《》 if the inside holds neither delimiter. The metric itself
    already ignores 「」『』“”《》 and '。'; stripping them matters for ASCII quotes, '‘' and for readability."""
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), '')
    line = _PREFIX.sub('', line, count=1)

    def strip_end(s: str) -> str:
        s = s.rstrip('。').rstrip()
        return s[:-1].rstrip() if len(s) > 1 and s[-1] == '.' and not s[-2].isascii() else s

    line = strip_end(line)
    for left, right in _QUOTES:
        inner = line[len(left):-len(right)]
        if len(line) > 2 and line.startswith(left) and line.endswith(right) and left not in inner \
                and right not in inner:
            line = strip_end(inner.strip())
            break
    return line
