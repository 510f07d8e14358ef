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


def test_latin_letters_typed_in_english_mode_are_the_keys_of_hangul():
    assert hangul.compose(hangul.latin_keys("dkssud")) == "안녕"
    assert hangul.compose(hangul.latin_keys("ajrdjTek")) == "먹었다"  # Shift+t is ㅆ
    assert hangul.compose(hangul.latin_keys("rkqkd")) == "가방"
    assert hangul.compose(hangul.latin_keys("Rkqkd")) == "까방"
    assert hangul.compose(hangul.latin_keys("DKSSUD")) == "안녕"  # Shift on a plain key
    # no 2-beolsik typist types a vowel without a consonant first, nor no syllable at all
    for english in ["movie", "I", "is", "good", "a", "zz", "rk1", "", "안녕"]:
        assert hangul.latin_keys(english) is None, english


def test_a_whole_text_in_english_mode_is_read_as_hangul():
    assert hangul.from_latin("dkssud qksrkdnj ") == "안녕 반가워 "
    assert hangul.from_latin("skdml gkgk!! 123 ") == "나의 하하!! 123 "
    assert hangul.from_latin("I really liked") is None  # "I" is a lone vowel
    assert hangul.from_latin("dkssud 영화 ") is None  # Hangul already: not the wrong mode
    assert hangul.from_latin("123 !! ") is None  # no letters
    assert hangul.from_latin("") is None


def test_neighbours_are_the_keys_around_and_shift():
    assert set(hangul.neighbours("ㅅ")) == set("ㅆㄱㄲㅛㄹㅎ")  # t: Shift, r, y, f, g
    assert set(hangul.neighbours("ㅓ")) == set("ㅗㅏㅕㅑㅜㅡ")  # j: h, k, u, i, n, m
    assert "ㅆ" in hangul.neighbours("ㄲ") and "ㄲ" in hangul.neighbours("ㅆ")
    assert hangul.neighbours("a") == "" and hangul.neighbours("ㄳ") == ""
    for jamo in hangul.LATIN_OF_JAMO:  # meant and hit are the same relation both ways
        assert jamo not in hangul.neighbours(jamo)
        for other in hangul.neighbours(jamo):
            assert jamo in hangul.neighbours(other), (jamo, other)


def test_initials_of_the_leading_syllables():
    assert hangul.initials("사과를") == "ㅅㄱㄹ"
    assert hangul.initials("영화ㅋㅋ") == "ㅇㅎ"
    assert hangul.initials("ㅋㅋ") == "" and hangul.initials("movie") == ""
    assert hangul.initials("까치") == "ㄲㅊ"
