"""scripts/make_word_prior.py: the default model's corpus, the sample corpus followed by lines
of real words drawn from the frequency lists of the wordfreq package."""

from __future__ import annotations

import collections
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("wordfreq", reason="wordfreq is a dev dependency (pip install -e '.[dev]')")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "make_word_prior.py"
SPEC = importlib.util.spec_from_file_location("make_word_prior", SCRIPT)
prior = importlib.util.module_from_spec(SPEC)
sys.path.insert(0, str(SCRIPT.parent))
SPEC.loader.exec_module(prior)
BASE = ["나는 밥을 먹었다", "오늘진짜피곤해ㅠㅠ", "I ate pizza for lunch"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return prior.word_prior(20000)


def test_the_corpus_is_the_base_then_the_prior_the_same_on_every_run(tmp_path):
    base = tmp_path / "base.txt"
    base.write_text("\n".join(BASE) + "\n\n", encoding="utf-8")
    outs = []
    for name in ("a.txt", "b.txt"):
        done = run("--base", str(base), "--out", str(tmp_path / name), "--lines", "500")
        assert done.returncode == 0, done.stderr
        assert "3 lines of base.txt, 500 of the word prior" in done.stdout
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]
    written = outs[0].decode("utf-8").splitlines()
    assert written[:3] == BASE and len(written) == 503 and all(x.strip() for x in written)
    assert not list(tmp_path.glob(".*.tmp"))  # written by one rename
    done = run("--base", str(base), "--out", str(tmp_path / "c.txt"), "--lines", "0")
    assert done.returncode == 0 and (tmp_path / "c.txt").read_text("utf-8").splitlines() == BASE


def test_korean_words_are_written_as_they_are_typed(lines):
    words = collections.Counter(w.rstrip(".!?~") for x in lines for w in x.split())
    # common nouns alone and with their particles, always in the right form
    nouns = {"영화": "가를는", "사람": "이을은", "시간": "이을은", "친구": "가를는",
             "생각": "이을은", "사랑": "이을은", "하나": "가를는", "오늘": "이을은"}
    right = wrong = 0
    for noun, forms in nouns.items():
        assert words[noun] > 0, noun
        right += sum(words[noun + p] for p in forms)
        wrong += sum(words[noun + p] for p in "이가을를은는" if p not in forms)
    assert right > 20 and wrong == 0
    # endings and stems are never words of their own; common predicates are
    bound = prior.BOUND - set(prior.PREDICATES)
    assert not bound & set(words)
    assert words["먹었다"] > 0 and words["있는"] > 0 and words["습니다"] == 0
    # a content morpheme also becomes a 하다 verb (생각했다, 사랑하는)
    assert any(re.fullmatch(r"[가-힣]{2,}(한|하는|했다|하게)", w) for w in words)


def test_particles_take_the_form_of_the_last_syllable():
    assert prior.attach("사과", "을", "를") == "사과를"
    assert prior.attach("밥", "을", "를") == "밥을"
    assert prior.attach("영화", "이", "가") == "영화가"
    assert prior.attach("서울", "으로", "로") == "서울로"  # a final ㄹ takes 로
    assert prior.attach("집", "으로", "로") == "집으로"
    assert prior.attach("ㅋㅋ", "을", "를") == "ㅋㅋ를"  # no syllable: the vowel form


def test_three_lines_in_four_are_korean_and_english_says_i(lines):
    korean = sum(bool(re.search("[가-힣]", x)) for x in lines) / len(lines)
    assert 0.7 < korean < 0.8
    english = [w for x in lines if not re.search("[가-힣]", x) for w in x.split()]
    assert "I" in english and "i" not in english and "the" in english


@pytest.mark.parametrize("bad", [["--lines", "-1"], ["--korean-share", "1.5"],
                                 ["--vocabulary", "0"]])
def test_bad_arguments_are_refused(bad, tmp_path):
    base = tmp_path / "base.txt"
    base.write_text("나는 밥을 먹었다\n", encoding="utf-8")
    done = run("--base", str(base), "--out", str(tmp_path / "out.txt"), *bad)
    assert done.returncode == 2 and "--lines must be" in done.stderr
    assert not (tmp_path / "out.txt").exists()
    done = run("--base", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "out.txt"))
    assert done.returncode == 2 and "no such file" in done.stderr


def test_without_wordfreq_it_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "wordfreq", None)  # import wordfreq raises ImportError
    with pytest.raises(SystemExit, match="needs the wordfreq package"):
        prior.word_prior(10)
