import pytest

from models.tokenizer import Tokenizer, TokenizerConfig, default_vocab_size, train_tokenizer

ROUND_TRIP = [
    "오늘 점심에 김치찌개 먹었다",
    "I really liked the movie",
    "넷플릭스에서 movie 봤는데 정말 good 👍",
    "ㅋㅋㅋㅋ 진짜 웃기다ㅠㅠ ㅎㅎ",
    "오늘진짜피곤하다",
    "3시에 2만원 2024년 12월 25일 010-1234-5678",
    "😂👍❤️🙏 👨‍👩‍👧",
    "두  칸   띄어쓰기",
    "Ünïcödé ñ 中文 日本語 العربية",
    "𝄞 뷁 똠방각하",
    "ㄱㄴㄷ ㅏㅑㅓ ㅘ",
]


@pytest.fixture(scope="module")
def tokenizer(sample_corpus, tmp_path_factory) -> Tokenizer:
    lines = sample_corpus.read_text(encoding="utf-8").splitlines()
    path = tmp_path_factory.mktemp("tok") / "tokenizer.model"
    return train_tokenizer(lines, path, TokenizerConfig(vocab_size=600))


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip_is_exact(tokenizer, text):
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert all(0 <= i < tokenizer.vocab_size for i in ids)


def test_compatibility_jamo_are_not_normalised(tokenizer):
    # NFKC would turn ㅋ (U+314B) into the conjoining ᄏ (U+110F)
    decoded = tokenizer.decode(tokenizer.encode("ㅋㅋ"))
    assert [hex(ord(c)) for c in decoded] == ["0x314b", "0x314b"]


def test_unseen_characters_fall_back_to_bytes_not_unk(tokenizer):
    ids = tokenizer.encode("𝄞")
    assert tokenizer.sp.unk_id() not in ids
    assert [tokenizer.sp.is_byte(i) for i in ids] == [False, True, True, True, True]
    assert tokenizer.id_to_piece(ids[0]) == "\u2581"


def test_word_starts_are_marked(tokenizer):
    ids = tokenizer.encode("나는 밥을 먹었다")
    starts = [i for i in ids if tokenizer.starts_word[i]]
    assert len(starts) == 3
    assert tokenizer.starts_word[ids[0]]


def test_vocabulary_shrinks_for_a_small_corpus(tmp_path):
    lines = ["작은 말뭉치 입니다", "a tiny corpus"] * 20
    tok = train_tokenizer(lines, tmp_path / "t.model", TokenizerConfig(vocab_size=8000))
    assert tok.vocab_size < 8000
    assert tok.decode(tok.encode("작은 corpus")) == "작은 corpus"


def test_default_vocab_size_grows_with_the_corpus():
    assert default_vocab_size(10_000) < default_vocab_size(200_000) <= 8000
    assert default_vocab_size(50_000_000) == 8000
