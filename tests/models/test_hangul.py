from models import hangul


def test_keys_split_compound_vowels_and_finals():
    assert hangul.keys("먹었다") == "ㅁㅓㄱㅇㅓㅆㄷㅏ"
    assert hangul.keys("와") == "ㅇㅗㅏ"
    assert hangul.keys("닭") == "ㄷㅏㄹㄱ"
    assert hangul.keys("ㅘ") == "ㅗㅏ"
    assert hangul.keys("abc 1") == "abc 1"


def test_screens_of_a_word_typed_key_by_key():
    assert hangul.screens("먹었다") == [
        "ㅁ", "머", "먹", "먹ㅇ", "먹어", "먹었", "먹었ㄷ", "먹었다"]
    assert hangul.screens("가방") == ["ㄱ", "가", "갑", "가바", "가방"]
    assert hangul.screens("와") == ["ㅇ", "오", "와"]


def test_compose_inverts_keys_for_syllable_text():
    for word in ["먹었다", "가방을", "닭갈비", "읽었어", "괜찮아", "뭐해", "ㅋㅋㅋ", "hello"]:
        assert hangul.compose(hangul.keys(word)) == word


def test_screens_fall_back_per_character_when_jamo_would_join():
    # typed as one run, the ㅋ would become the final of 화
    shown = hangul.screens("영화ㅋㅋ")
    assert shown[-1] == "영화ㅋㅋ"
    assert "영화ㅋ" in shown


def test_can_become_follows_keystrokes():
    for typed in ["ㅁ", "머", "먹", "먹ㅇ", "먹어", "먹었", "먹었ㄷ", "먹었다"]:
        assert hangul.can_become(typed, "먹었다"), typed
    assert hangul.can_become("가바", "가방")
    assert hangul.can_become("갑", "가방")
    assert hangul.can_become("오", "와")
    assert not hangul.can_become("먹", "머리")
    assert not hangul.can_become("가방", "가바다")
    assert hangul.can_become("mo", "movie") and not hangul.can_become("mv", "movie")
