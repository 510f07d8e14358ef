"""Write the default model's corpus: the bundled sample corpus followed by a word prior, lines
of real Korean and English words drawn by their frequency in everyday text.

The sample corpus (``data/sample_corpus.txt``) is a few thousand template lines: a model
trained on it alone knows a few hundred words and offers nothing for most of what people
type (`사과` is not among them). The frequency lists that the ``wordfreq`` package ships
(Speer et al.; the data CC BY-SA 4.0, read from the installed package, never copied into
this project) know tens of thousands. This script turns them into text a language model can
learn from: each prior line is a few words drawn independently by frequency, so the n-gram
sees a common word after many different words (Kneser-Ney's lower orders count distinct
left contexts, not repetitions) and the tokenizer makes pieces of real words.

wordfreq's Korean entries are morphemes, as a morphological analyser cuts them (`사과`,
`먹`, `었`, `를`), while people type words (`사과를`, `먹었다`). So the Korean lines are
built as words: content morphemes of two or more syllables (nouns and adverbs, mostly) alone
or with a particle in its right form (`사과를`, `영화가`), a short list of one-syllable words
that stand alone, and common predicate forms written out (`먹었다`, `있는`, `좋아요`), since
stems and endings alone are never typed as words. English entries are words already.

Draws are from one seeded generator over lists sorted by (frequency, word): the output is
the same byte for byte for the same wordfreq version and arguments, and written atomically.

    python scripts/make_word_prior.py --base data/sample_corpus.txt \
        --out models-data/default.corpus.txt --lines 20000
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from itertools import accumulate
from pathlib import Path

# a sibling: python puts the directory of the script it runs first on the path
from make_sample_corpus import FINAL_RIEUL, final_consonant, write_atomic

SEED = 20240518


def words(text: str) -> list[str]:
    """The whitespace-separated words of a block of text."""
    return text.split()


HANGUL_WORD = re.compile(r"[가-힣]+")
LATIN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")

# Morphemes of two or more syllables that are never typed alone: particles, endings and
# the stems of verbs and adjectives (they need an ending: 만들 -> 만들었다).
BOUND = set(words("""
에서 으로 습니다 지만 는데 에게 라고 한다 합니다 까지 세요 다고 면서 부터 라는 어서 다는 으면 해서
니까 해야 보다 된다 해요 네요 으며 처럼 아요 한테 는지 도록 라도 다가 다면 아서 인데 거나 는다
어야 해도 인지 려고 라면 은데 한다고 만큼 마다 됩니다 대로 로서 구나 께서 구요 지요 어도 으니까
군요 가요 는데요 고요 려는 의해 건데 더니 한데 으로서 으로써 으시 아야 잖아 스럽 로부터 인가
이랑 었었 겠지 는다고 더라 더라고 던데 든지 라서 려면 면서도 며는 어요 에요 예요 이나 이며 이다
이라 이라고 이라는 이지만 입니다 으려고 으면서 을까 을지 자고 잖아요 지도 지는 하면서 시키 시켜
그렇 이렇 어떻 저렇 그러 이러 모르 만들 만나 보내 보이 보여 나오 다니 드리 버리 들어가 일어나
느끼 기다리 부르 알려 마시 달리 이루 다르 만드 괜찮 힘들 재밌 따르 가지 대하 위하 통하 나타나
나가 들어오 돌아가 돌아오 바라 바꾸 가르치 고르 기르 누르 흐르 오르 모이 쉬우 어렵 아름답 즐겁
무섭 귀엽 더럽 부럽 반갑 고맙 시끄럽 그립 두렵 새롭 놀라 지나 떠나 잃어버리 싸우 배우 외우 키우
나왔 냐고 드립니다 야지 셔서 생겼 듯이 텐데 겁니다 당하 봐야 에선 으로부터 아도 그랬 맛있 버렸
한다면 라구 대해서 한다는
"""))
# One-syllable entries that people do type as words: nouns, which take particles (밥을,
# 말이, 제가), and the rest, which do not (더, 잘, 왜: 나 and 너 do, in forms of their own).
FREE_NOUNS = set(words("""
수 것 거 때 집 돈 책 물 밥 말 눈 손 날 일 번 분 명 개 앞 뒤 밤 꿈 힘 몸 글 맛 옷 차 길 산 강 불 별
제 내
"""))
FREE_SYLLABLES = FREE_NOUNS | set(words("""
이 그 저 더 좀 잘 다 또 왜 꼭 안 못 난 넘 뭐 첫 새 딱 늘 꽤 참 막 너 나 걍 헐
"""))
# (form after a final consonant, after a vowel, weight): the particles typed most.
PARTICLES = [("을", "를", 10), ("이", "가", 8), ("은", "는", 8), ("에", "에", 5),
             ("도", "도", 4), ("의", "의", 4), ("으로", "로", 3), ("에서", "에서", 2),
             ("과", "와", 2), ("이다", "다", 2), ("만", "만", 1), ("이랑", "랑", 1),
             ("에게", "에게", 1), ("인", "인", 1)]
# Predicates and adverbs as they are typed: the stems above with their commonest endings.
PREDICATES = words("""
있다 있는 있어 있고 있어서 있었다 있어요 있을 있으면 없다 없는 없어 없고 없어서 없었다 없어요
하는 한 했다 해서 하고 하면 해요 했어요 합니다 할 하지 하게 했는데 하는데 해도 했던 하기 한다 했고
되는 된 됐다 되고 돼서 될 되면 되는데 보는 본 봤다 보고 봐서 보면 봤는데 봤어요 볼 보기 봐도 봤던
좋은 좋다 좋아 좋고 좋았다 좋아요 좋았던 좋겠다 같은 같다 같아 같고 같아요 같이 같았다 같네요
아니다 아닌 아니라 아니고 아니면 싶다 싶은 싶어 싶어요 싶었다 재밌다 재밌는 재밌게 재밌어요 재밌었다
재미있는 재미있게 재미없다 재미없는 많은 많이 많다 작은 큰 새로운 다른 모든 어떤 이런 그런 저런
이렇게 그렇게 어떻게 알고 알았다 모르는 모르고 몰랐다 만든 만들어 만들었다 나온 나오는 나와서
먹고 먹는 먹었다 먹었어 먹을 주는 준 줬다 주고 받은 받고 받았다 가는 간 갔다 가고 가서 오는 온
왔다 오고 와서 사는 살았다 느껴지는 느꼈다 생각한다 생각했다 기대했는데 감동적인 슬픈 웃긴 무서운
지루한 멋진 아름다운 최고의 최악의 진정한 대단한 괜찮은 괜찮다 괜찮아요 힘든 힘들다 싫다 싫은
좋아하는 사랑하는 그리고 그래서 그런데 하지만 근데 그래도 그냥 정말 진짜 너무 아주 매우 완전
제일 가장 조금 다시 계속 이미 아직 벌써 항상 결국 역시 특히 물론 전혀 절대 별로 그저 오히려
점점 차라리 아마 혹시 정말로 진짜로 너무나 봤어 했어 좋네요 아깝다 아까운 재미 있게 없게
않고 않은 않는 않다 않아 않았다 않을까 있을까 있을까요 없을까 보니 보는데 보다가 보게 보세요
볼만하다 볼만한 넘치는 남는 남은 느끼게 느낀 이해하지 이해가 재밌고 재밌지 재미있다 재미있었다
재미없게 재미없어요 재미가 재미를 재미도 좋았지만 좋지만 좋을 좋게 아쉬운 아쉽다 아쉬웠다 실망했다
내가 네가 제가 니가 나도 나는 난 게 건 걸 땐 젤 넘 걍 좀더 한번 한 번 이건 그건 저건 이게 그게
뭔가 뭘 누가 어디서 언제나 왜냐하면 그러니까 아무리 같다. 없다. 있다. 좋다. 한다. 했다.
""")
# Endings of the 하다 verbs and adjectives, which a content morpheme often takes (사랑하는,
# 생각했다, 완벽한: wordfreq lists 사랑, 생각, 완벽 alone), with weights.
HADA = [("한", 6), ("하는", 6), ("하다", 3), ("하게", 3), ("했다", 3), ("해서", 2), ("하고", 3),
        ("합니다", 2), ("했던", 1), ("하지", 2), ("할", 2), ("해요", 1), ("했어요", 1), ("하면", 1),
        ("했는데", 1), ("하네요", 1)]
# What often ends a typed line (the template corpus has its own): a full stop, a few marks.
ENDINGS = [("", 14), (".", 6), ("!", 2), ("..", 2), ("?", 1), ("~", 1), (" ㅋㅋ", 1),
           (" ㅠㅠ", 1), ("...", 1), ("!!", 1), (" ㅋ", 1), (" ㅎㅎ", 1), (" ㅡㅡ", 1), (" ^^", 1)]
CAPITALISED = {"i", "i'm", "i've", "i'll", "i'd"}


def attach(word: str, after_coda: str, after_vowel: str) -> str:
    """``word`` with a particle in the form its last syllable takes: 사과를, 영화가, 밥을,
    and 서울로, not 서울으로 (a final ㄹ takes the vowel form of 으로)."""
    coda = final_consonant(word)
    return word + (after_coda if coda and not (coda == FINAL_RIEUL and after_coda == "으로")
                   else after_vowel)


def frequencies(lang: str, wordlist: str, limit: int, pattern: re.Pattern[str]) -> list[
        tuple[str, float]]:
    """The ``limit`` most frequent entries of a wordfreq list that ``pattern`` matches whole,
    sorted by (frequency, entry)."""
    try:
        import wordfreq
    except ImportError:
        sys.exit("make_word_prior.py needs the wordfreq package (pip install -e '.[dev]')")
    freqs = wordfreq.get_frequency_dict(lang, wordlist=wordlist)
    entries = sorted(((w, f) for w, f in freqs.items() if pattern.fullmatch(w)),
                     key=lambda e: (-e[1], e[0]))
    return entries[:limit]


def korean_words(limit: int) -> tuple[list[str], list[float]]:
    """Korean content words (morphemes that stand alone) and their cumulative frequencies.
    A one-syllable entry counts no more than the 100th word: most of the frequency of
    `이`, `다` or `수` is that of a particle, an ending or a bound noun."""
    entries = frequencies("ko", "small", limit, HANGUL_WORD)
    keep = [(w, f) for w, f in entries
            if w not in BOUND and (len(w) >= 2 or w in FREE_SYLLABLES)]
    cap = sorted((f for w, f in keep if len(w) >= 2), reverse=True)[99]
    return [w for w, _ in keep], list(accumulate(f if len(w) >= 2 else min(f, cap)
                                                 for w, f in keep))


def english_words(limit: int) -> tuple[list[str], list[float]]:
    """English words and their cumulative frequencies; ``i`` and its contractions
    capitalised."""
    entries = frequencies("en", "large", limit, LATIN_WORD)
    return [w.capitalize() if w in CAPITALISED else w for w, _ in entries], list(
        accumulate(f for _, f in entries))


def korean_line(rng: random.Random, words: list[str], cumulative: list[float]) -> str:
    """A few Korean words: predicates, content words alone, with a particle or as a 하다
    verb."""
    out = []
    for _ in range(rng.randint(2, 8)):
        if rng.random() < 0.4:  # measured: 0.3 and 0.5 saved fewer keys on real reviews
            out.append(rng.choice(PREDICATES))
            continue
        word = rng.choices(words, cum_weights=cumulative)[0]
        r = rng.random()
        if r < 0.4 and (len(word) >= 2 or word in FREE_NOUNS):
            with_coda, without, _ = rng.choices(PARTICLES, [p[2] for p in PARTICLES])[0]
            word = attach(word, with_coda, without)
        elif r < 0.55 and len(word) >= 2:
            word += rng.choices(*zip(*HADA, strict=True))[0]
        out.append(word)
    return " ".join(out) + rng.choices(*zip(*ENDINGS, strict=True))[0]


def english_line(rng: random.Random, words: list[str], cumulative: list[float]) -> str:
    """A few English words, the first capitalised half the time."""
    out = rng.choices(words, cum_weights=cumulative, k=rng.randint(2, 8))
    if rng.random() < 0.5:
        out[0] = out[0][0].upper() + out[0][1:]
    return " ".join(out) + rng.choices(*zip(*ENDINGS[:5], strict=True))[0]


def word_prior(lines: int, korean_share: float = 0.75, vocabulary: int = 30000,
               seed: int = SEED) -> list[str]:
    """``lines`` prior lines, ``korean_share`` of them Korean, from each language's
    ``vocabulary`` most frequent entries."""
    rng = random.Random(seed)
    ko, ko_w = korean_words(vocabulary)
    en, en_w = english_words(vocabulary)
    return [korean_line(rng, ko, ko_w) if rng.random() < korean_share
            else english_line(rng, en, en_w) for _ in range(lines)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True,
                    help="corpus whose lines come first (the bundled sample corpus)")
    ap.add_argument("--out", type=Path, required=True, help="the corpus to write")
    ap.add_argument("--lines", type=int, default=20000, help="prior lines (0: the base alone)")
    ap.add_argument("--korean-share", type=float, default=0.75)
    ap.add_argument("--vocabulary", type=int, default=30000,
                    help="most frequent entries of each language drawn from")
    args = ap.parse_args(argv)
    if not args.base.is_file():
        ap.error(f"--base {args.base}: no such file")
    if args.lines < 0 or not 0.0 <= args.korean_share <= 1.0 or args.vocabulary < 1:
        ap.error("--lines must be >= 0, --korean-share in [0, 1], --vocabulary >= 1")
    base = [x for x in args.base.read_text(encoding="utf-8").splitlines() if x.strip()]
    prior = word_prior(args.lines, args.korean_share, args.vocabulary) if args.lines else []
    write_atomic(args.out, base + prior)
    print(f"wrote {args.out}: {len(base):,} lines of {args.base.name}, {len(prior):,} of the "
          f"word prior")


if __name__ == "__main__":
    main()
