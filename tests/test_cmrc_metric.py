"""CMRC 2018 metric: expected values are worked out by hand from the official script's rules
(ymcui/cmrc2018 squad-style-data/cmrc2018_evaluate.py), not by re-running an inline copy of it."""

from __future__ import annotations

import json

import pytest

from harness.scoring.cmrc import (
    clean_span_prediction,
    cmrc_corpus_scores,
    cmrc_em,
    cmrc_f1,
    find_lcs,
    mixed_segmentation,
    remove_punctuation,
    word_tokenize,
)

# ---- segmentation and punctuation --------------------------------------------------------------------------------


def test_segmentation_mixed_chinese_english_digits():
    # lowercased; "iphone 6" is one non-Chinese run -> two words; "2014" a run of its own.
    assert mixed_segmentation("iPhone 6于2014年发布") == ["iphone", "6", "于", "2014", "年", "发", "布"]


def test_segmentation_punctuation_kept_or_dropped_without_breaking_the_run():
    assert mixed_segmentation("《红楼梦》") == ["《", "红", "楼", "梦", "》"]
    assert mixed_segmentation("《红楼梦》", rm_punc=True) == ["红", "楼", "梦"]
    # Without rm_punc '-' ends the run; with it the '-' is skipped and the run goes on: covid19 is ONE token.
    assert mixed_segmentation("COVID-19") == ["covid", "-", "19"]
    assert mixed_segmentation("COVID-19", rm_punc=True) == ["covid19"]


def test_remove_punctuation_exact_list():
    # lowercases and strips; inner spaces, ASCII '.', ',' and '…' (the list holds '……', never one char) stay.
    assert remove_punctuation("  《NBA》：“总决赛”。 ") == "nba总决赛"
    assert remove_punctuation("A b,c.d…") == "a b,c.d…"


def test_word_tokenize_matches_nltk_345():
    # Expected list is what nltk 3.4.5's word tokenizer printed for this string (checked once, offline).
    text = "iphone 6 can't \"go\" u.s. 3.14 1,000 a, b 'hi' end."
    assert word_tokenize(text) == ["iphone", "6", "ca", "n't", "``", "go", "''", "u.s.", "3.14", "1,000",
                                   "a", ",", "b", "'hi", "'", "end", "."]
    # Known deviation (no Punkt): nltk would split "end." here because Punkt ends a sentence after it.
    assert word_tokenize("end. next") == ["end.", "next"]


def test_find_lcs_is_a_contiguous_substring():
    assert find_lcs(list("abcde"), list("xbcdy")) == (list("bcd"), 3)
    assert find_lcs(list("甲乙丙丁"), list("甲丙丁")) == (list("丙丁"), 2)  # a subsequence would be 3
    assert find_lcs([], list("ab")) == ([], 0)


# ---- EM / F1, hand-worked ----------------------------------------------------------------------------------------


def test_exact_chinese_span():
    assert cmrc_em(["北京"], "北京") == 1.0
    assert cmrc_f1(["北京"], "北京") == 1.0


def test_partial_chinese_span():
    # ref 北京大学 = 4 segs, pred 北京 = 2, lcs 2: P = 1, R = 1/2 -> F1 = 2*(1/2)/(3/2) = 2/3
    assert cmrc_em(["北京大学"], "北京") == 0.0
    assert cmrc_f1(["北京大学"], "北京") == pytest.approx(2 / 3)


def test_lcs_substring_not_subsequence_in_f1():
    # ref 甲乙丙丁 (4), pred 甲丙丁 (3), lcs 丙丁 = 2: P = 2/3, R = 1/2 -> F1 = (2/3)/(7/6) = 4/7
    # (a subsequence LCS of 3 would give 6/7)
    assert cmrc_f1(["甲乙丙丁"], "甲丙丁") == pytest.approx(4 / 7)


def test_mixed_chinese_english_digits():
    ref = ["iPhone 6于2014年发布"]  # segs: iphone 6 于 2014 年 发 布 = 7
    # pred iphone 6 = 2 segs, lcs 2: P = 1, R = 2/7 -> F1 = (4/7)/(9/7) = 4/9
    assert cmrc_f1(ref, "iPhone 6") == pytest.approx(4 / 9)
    # pred "2014年" = [2014, 年], contiguous in ref: the same 4/9
    assert cmrc_f1(ref, "2014年") == pytest.approx(4 / 9)
    # pred iphone6 于 2014 年 发 布 = 6 segs, lcs 于..布 = 5: P = 5/6, R = 5/7 -> F1 = (50/42)/(65/42) = 10/13
    assert cmrc_f1(ref, "iPhone6于2014年发布") == pytest.approx(10 / 13)
    assert cmrc_em(ref, "iPhone6于2014年发布") == 0.0  # EM keeps the inner space
    assert cmrc_em(ref, "IPHONE 6于2014年发布") == 1.0  # ...but lowercases
    assert cmrc_f1(ref, "IPHONE 6于2014年发布") == 1.0


def test_punctuation_differences():
    assert cmrc_em(["《红楼梦》"], "红楼梦") == 1.0 and cmrc_f1(["《红楼梦》"], "红楼梦") == 1.0
    assert cmrc_em(["北京"], "北京。") == 1.0 and cmrc_f1(["北京"], "北京。") == 1.0
    assert cmrc_em(["COVID-19"], "covid19") == 1.0 and cmrc_f1(["COVID-19"], "covid19") == 1.0
    # "covid 19" = [covid, 19] vs [covid19]: no common segment -> F1 0
    assert cmrc_em(["COVID-19"], "covid 19") == 0.0 and cmrc_f1(["COVID-19"], "covid 19") == 0.0
    # ASCII '.' is not in the list: pred = [美, 国, .], lcs 2: P = 2/3, R = 1 -> F1 = (4/3)/(5/3) = 4/5
    assert cmrc_em(["美国"], "美国.") == 0.0
    assert cmrc_f1(["美国"], "美国.") == pytest.approx(4 / 5)
    # '…' is not removed either ('……' in the list never matches one character): same 4/5
    assert cmrc_f1(["等等"], "等等…") == pytest.approx(4 / 5)
    # ASCII comma inside a number: '1,000' is one token, '1000' another -> 0
    assert cmrc_f1(["1,000"], "1000") == 0.0 and cmrc_em(["1,000"], "1000") == 0.0


def test_whitespace():
    assert cmrc_em(["北京"], "  北京 \n") == 1.0
    # an inner space: EM compares strings (space kept) -> 0; F1 segments (space vanishes) -> 1
    assert cmrc_em(["北京"], "北 京") == 0.0
    assert cmrc_f1(["北京"], "北 京") == 1.0


def test_multiple_references_take_the_max():
    assert cmrc_em(["北京大学", "北京"], "北京") == 1.0
    assert cmrc_f1(["北京大学", "北京"], "北京") == 1.0
    # pred 北京大学校园 (6). ref 清华大学: lcs 大学 = 2, P = 1/3, R = 1/2 -> 2/5; ref 北京大学: lcs 4, P = 2/3,
    # R = 1 -> 4/5. Max = 4/5 whichever order.
    assert cmrc_f1(["清华大学", "北京大学"], "北京大学校园") == pytest.approx(4 / 5)
    assert cmrc_f1(["北京大学", "清华大学"], "北京大学校园") == pytest.approx(4 / 5)
    assert cmrc_em(["清华大学", "北京大学"], "北京大学校园") == 0.0


def test_empty_or_punctuation_only_prediction_scores_zero():
    for pred in ("", "   ", "。", "《》"):
        assert cmrc_em(["北京"], pred) == 0.0
        assert cmrc_f1(["北京"], pred) == 0.0


def test_no_references_is_an_error():
    with pytest.raises(ValueError):
        cmrc_f1([], "北京")
    with pytest.raises(ValueError):
        cmrc_em([], "北京")


def test_corpus_scores_official_rollup():
    # EM: 1 + 0 + 0 (unanswered) over 3 -> 33.33; F1: 1 + 2/3 + 0 over 3 -> 55.56
    scores = cmrc_corpus_scores([(["北京"], "北京"), (["北京大学"], "北京"), (["上海"], None)])
    assert scores["EM"] == pytest.approx(100 / 3)
    assert scores["F1"] == pytest.approx(100 * (5 / 3) / 3)
    assert scores["AVERAGE"] == pytest.approx((100 / 3 + 500 / 9) / 2)
    assert (scores["TOTAL"], scores["SKIP"]) == (3, 1)


# ---- cleaning a chat answer --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, span",
    [
        ("答案：北京\n因为文中提到……", "北京"),
        ("\n\n  北京大学。  \n其他", "北京大学"),
        ("Answer: Beijing", "Beijing"),
        ("answer：Beijing", "Beijing"),
        ("答：「北京」。", "北京"),
        ("答案是：1998年", "1998年"),
        ("“北京。”", "北京"),
        ('"Beijing"', "Beijing"),
        ("‘北京’", "北京"),
        ("《红楼梦》", "红楼梦"),
        ("《红楼梦》和《西游记》", "《红楼梦》和《西游记》"),  # inner delimiters: not one quoted span, leave it
        ("答案在文中第二段", "答案在文中第二段"),  # no colon: not a prefix
        ("U.S.", "U.S."),  # a '.' after an ASCII letter is kept
        ("美国.", "美国"),
        ('"', '"'),
        ("", ""),
        (" \n \n", ""),
    ],
)
def test_clean_span_prediction(raw, span):
    assert clean_span_prediction(raw) == span


# ---- the real dev set --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_questions(data_dir):
    data = json.loads((data_dir / "cmrc2018" / "cmrc2018_dev.json").read_text(encoding="utf-8"))
    return [[a["text"] for a in qa["answers"]] for art in data["data"] for p in art["paragraphs"] for qa in p["qas"]]


def test_dev_first_reference_as_prediction_scores_perfectly(dev_questions):
    assert len(dev_questions) == 3219
    bad = [refs for refs in dev_questions if cmrc_em(refs, refs[0]) != 1.0 or cmrc_f1(refs, refs[0]) != 1.0]
    assert bad == []
    scores = cmrc_corpus_scores((refs, refs[0]) for refs in dev_questions)
    assert (scores["EM"], scores["F1"], scores["TOTAL"], scores["SKIP"]) == (100.0, 100.0, 3219, 0)


def test_dev_wrapped_chat_answers_clean_back_to_perfect_scores(dev_questions):
    bad = []
    for refs in dev_questions:
        span = clean_span_prediction(f"答案：「{refs[0]}」。\n这是根据第一段得出的。")
        if cmrc_em(refs, span) != 1.0 or cmrc_f1(refs, span) != 1.0:
            bad.append((refs[0], span))
    assert bad == []
