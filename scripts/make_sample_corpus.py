"""Generate the small built-in training corpus ``data/sample_corpus.txt``.

Writes a few thousand original, template-generated lines (UTF-8, one per line, deduplicated):
~65% Korean, ~25% English, ~10% mixed; everyday sentences, KakaoTalk-style chat, search queries
and short reviews, with unspaced Korean, ㅋㅋ/ㅠㅠ, emoji, numbers and prices. Tests train tiny
language models on it and the service uses it for its default model, so shared slot vocabularies
make common words recur. Fixed seed + atomic write: reruns produce a byte-identical file.

Usage: python scripts/make_sample_corpus.py [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import tempfile
from pathlib import Path

SEED = 20240517
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "sample_corpus.txt"


# Slot vocabularies, "name: a|b|c" per line; a name may span several lines.
SLOT_TEXT = """
# Korean vocabulary; "_" stands for a space inside chat/review endings
food: 김치찌개|된장찌개|라면|떡볶이|치킨|피자|삼겹살|비빔밥|불고기|짜장면|짬뽕|냉면|초밥|햄버거
food: 샌드위치|파스타|순댓국|칼국수|김밥|돈까스|제육볶음|마라탕|쌀국수|샐러드|국밥|부대찌개|닭갈비
food: 족발|떡국|김치볶음밥|우동|갈비탕|밥
meal: 아침에|점심에|저녁에|야식으로|점심으로|저녁으로|아까|어제|오늘 점심에|어제 저녁에|오늘 아침에
meal: 방금|오늘 저녁에
subj: 나는|저는|우리는|엄마는|아빠는|동생은|친구는|형은|누나는|언니는|오빠는|남편은|아내는|팀장님은
subj: 할머니는|민지는|준호는
who: 친구|동생|엄마|아빠|형|누나|언니|오빠|민지|준호|사촌 동생|회사 동기|룸메이트|여자친구|남자친구
who: 할머니|선배|후배|지수|현우
name: 민지|준호|지수|현우|서연|도윤|하은|지훈|수빈|예준|유진|성민
play: 놀았다|게임했다|영화 봤다|라면 끓여 먹었다|수다 떨었다|치킨 시켜 먹었다|보드게임 했다
play: 술 한잔했다|노래 불렀다|숙제했다|드라마 봤다|케이크 먹었다
after: 잤다|산책했다|카페 갔다|영화 봤다|공부했다|바로 누웠다|설거지했다|출근했다|잤어|산책했어
after: 커피 마셨어|영화 봤어|드라마 봤어|낮잠 잤어|운동 갔어
place: 집|회사|학교|카페|도서관|마트|편의점|병원|은행|헬스장|공원|백화점|영화관|식당|학원|시장|공항
place: 친구 집
area: 강남역|홍대|신촌|잠실|명동|이태원|성수동|연남동|판교|여의도|건대입구|해운대|서면|종로|합정
area: 광화문
city: 서울|부산|대구|인천|광주|대전|제주|수원|강릉|전주|경주|여수|춘천
day: 오늘|내일|이번 주말에|주말에|다음 주에|금요일에|토요일에|월요일에|모레|오늘 저녁에|내일 아침에
day: 오늘|내일
pday: 오늘|어제|지난주에|지난 주말에|아까|그저께|어제 저녁에|오늘
dq: 오늘|내일|주말|이번주|모레|내일 오후
time: 3시|오후 2시|7시 반|아침 9시|저녁 6시|밤 11시|10시|12시|1시 반|오후 4시|저녁 8시|5시 30분|6시
item: 가방|가방|가방|가방|신발|옷|노트북|핸드폰|이어폰|책|모자|지갑|우산|시계|텀블러|운동화|패딩
item: 코트|키보드|향수|선글라스
wake: 6시|7시|아침 6시 반|5시 반|8시|7시 반|새벽 5시
price: 2만원|3만 5천원|5천원|12만원|9900원|4만원|1500원|30만원|만원|7만원|15만원|2500원|8만원
buy: 샀다|샀어|주문했다|주문했어|질렀다|선물 받았다|샀다|샀어
wow: 너무|진짜|정말|완전|엄청|진짜 너무
adv: 너무|진짜|정말|완전|엄청|되게|좀|진짜 너무|정말 너무|너무|진짜|정말
feel: 피곤하다|졸리다|배고프다|행복하다|심심하다|바쁘다|힘들다|기분 좋다|배부르다|설렌다|우울하다
feel: 지친다
feel2: 피곤해|졸려|배고파|행복해|심심해|바빠|힘들어|배불러|설레|우울해|추워|더워
weather: 덥다|춥다|좋다|흐리다|맑다|습하다|쌀쌀하다|따뜻하다
genre: 공포|액션|로맨스|코미디|스릴러|가족|애니메이션|판타지|범죄|음악
mv: 재밌었다|재밌었어|감동적이었다|지루했다|무서웠다|최고였다|별로였다|슬펐다|웃겼다
mvp: 재밌었어요|감동적이었어요|최고였어요|좋았어요|슬펐어요|웃겼어요
size: 작아요|커요|무거워요|가벼워요|얇아요
hobby: 등산|요리|뜨개질|러닝|캠핑|독서|테니스|필라테스|사진 찍기|베이킹
thing: 물|책|우산|지갑|충전기|립밤|간식|노트북
year: 2023|2024|2025
month: 1월|3월|5월|7월|8월|10월|12월
gender: 여자|남자|대학생|직장인|초등학생
star: 10|9|8|7|5|3|1
# endings: chat, sad, positive, negative (empty items keep plain lines common)
ce: ||||_ㅋㅋ|_ㅋㅋㅋ|ㅋㅋ|_ㅎㅎ|~|!|..|_😂|_👍
se: |||_ㅠㅠ|_ㅜㅜ|ㅠㅠ|..|_🙏
pe: ||||_👍|!|!!|_❤️|_ㅎㅎ|_강추
ne: ||..|_ㅠㅠ|_비추|.
# English and mixed vocabulary
food_en: pizza|ramen|fried chicken|tacos|sushi|burgers|pasta|pho|salad|kimchi stew|dumplings|curry
food_en: sandwiches|pancakes|bibimbap|noodles|steak|tteokbokki
meal_en: breakfast|lunch|dinner|a late-night snack|lunch|dinner
who_en: my friend|my sister|my brother|my mom|my dad|my roommate|my coworker|Jake|Emma|Mina
who_en: my cousin|my neighbor
name_en: Jake|Emma|Mina|Chris|Sara|Daniel|Yuna|Tom
did_en: played games|watched a movie|cooked dinner|talked for hours|went for a walk|ordered pizza
did_en: studied together|watched the game|baked cookies
item_en: bag|backpack|laptop|phone case|jacket|watch|keyboard|umbrella|wallet|coat|headset|bag
item_en: water bottle
when_en: today|yesterday|last week|this morning|on Friday|over the weekend
fut_en: tonight|tomorrow|this weekend|on Saturday|after work
adv_en: really|so|very|pretty|super|really
weather_en: hot|cold|cloudy|windy|nice|humid|rainy|sunny
feel_en: tired|hungry|bored|busy|happy|sleepy|stressed|full
madj: good|great|boring|funny|scary|sad|amazing|long|bad|good
neg_en: boring|slow|confusing|predictable|weak
time_en: 3pm|7:30|noon|8 tonight|10am|6 o'clock|9:15|5:45
city_en: Seoul|Busan|Tokyo|London|New York|Paris|Jeju|Chicago|Berlin|Toronto
place_en: office|gym|library|park|mall|cafe|station|airport|store|beach
task_en: sort a list in python|reverse a string in python|undo last commit git|center a div css
task_en: merge two dicts python|read a csv file python|boil eggs|remove duplicates from a list
task_en: make cold brew|clean a laptop keyboard
genre_en: horror|action|comedy|romance|sci-fi|thriller|animated|family
price_en: $40|$25|$99|$15|$60|$200
n: 2|3|4|5|7|8|9|10
ee: ||||_lol|!|_😂|_👍|_🙏|!!|_haha
brand: nike|apple|samsung|adidas|zara|uniqlo|lg|sony
py: 리스트 정렬|딕셔너리 정렬|문자열 자르기|파일 읽기|설치 방법|for문|클래스 예제
work: code review|presentation|report|debugging|interview|meeting|PPT
app: YouTube|Netflix|Instagram|zoom|slack|discord|notion
ott: Netflix|YouTube|Disney+|Netflix
phone: iphone 14|iphone 15|iphone 16|galaxy s24|galaxy z flip|pixel 9
"""
# Templates under "[language kind unique-lines-wanted]" headers, " ; "-separated.
# {slot} picks a vocabulary item; {slot|을} also attaches the right particle form.
TEMPLATE_TEXT = """
[ko say 640]
{meal} {food} 먹었다 ; {meal} {food} 먹었어 ; {subj} {food|을} 먹었다 ; {subj} 밥을 먹었다
{subj} {meal} {food|을} 먹었다 ; {food} 먹고 {after} ; {meal} {food} 먹고 {after}
{who|이} 집에 와서 같이 {play} ; {who|이} {place}에 와서 {food|을} 먹었다
{pday} {who|이랑} {place}에서 {food} 먹었다 ; {pday} {item|을} {buy} ; {pday} 새 {item|을} {buy}
{area}에서 {item|을} {price} 주고 {buy} ; {place}에서 {item|을} 잃어버렸다 ; 요즘 {adv} {feel}
오늘 {adv} {feel} ; {day} 날씨가 {adv} {weather} ; {pday} {time}에 {who|이랑} 영화 봤다
{who|이랑} 본 영화가 {adv} {mv} ; 그 영화 {adv} {mv} ; {pday} {place}에 갔다
{time}까지 {place}에 가야 한다 ; {year}년 {month}에 {city|으로} 여행 갔다
{day} {time}에 {area}에서 {who|이랑} 만나기로 했다 ; {subj} 요즘 {hobby}에 빠졌다
가방을 {place}에 두고 왔다 ; 가방에 {thing} 넣어 놨다 ; {item} 사러 {area}에 갔다
{who|이} 준 가방을 들고 {place}에 갔다 ; {meal} 먹은 {food|이} {adv} 맛있었다
{pday} 집에 와서 {food} 먹고 잤다 ; {pday} {who|이} 우리 집에 와서 {food} 먹고 갔다
오늘 {place}에서 {adv} 오래 기다렸다 ; 내일은 {wake}에 일어나야 한다
내일 {who|이랑} {area}에서 영화 보기로 했다 ; 오늘 {food} {price} 주고 먹었다
[ko chat 520]
{meal} 뭐 먹었어? ; 나 {meal} {food} 먹었어{ce} ; 밥 먹었어?{ce}
{name|아} {time}에 {area}에서 보자{ce} ; 야 {day} {food} 먹으러 갈래? ; 나 지금 {place} 가는 중{ce}
{name|아} 언제 와? ; {time}까지 와{ce} ; 빨리 와 {name|아}{ce} ; 와 {wow} 맛있다{ce}
와 {food} {wow} 맛있다{ce} ; 와 대박{ce} ; 와 {wow} 대박이다{ce} ; {place}에 와서 연락해{ce}
집에 와서 전화할게{ce} ; {day} 우리 집에 와서 {food} 먹자{ce} ; 카톡 확인해줘{ce}
{name|아} 카톡 좀 봐봐{ce} ; 오늘 {adv} {feel2}{se} ; 나 {adv} {feel2}{se} ; ㅋㅋㅋ {adv} 웃기다
헐 진짜?{se} ; 헐 정말?{ce} ; ㅇㅋ {time}에 봐 ; {day} 시간 돼? ; {day} 영화 보러 갈래?{ce}
{food} 시켰어 {time}에 온대{ce} ; 도착하면 연락해{ce} ; 미안 {time}쯤 도착할 듯{se}
나 {place} 앞이야 어디야? ; 가방 놓고 왔다{se} ; 내 가방 어디 있는지 알아?
{name|아} 생일 축하해 ❤️ ; {name|아} 고마워{ce} ; 내일 {time}에 {place} 앞에서 봐{ce}
{price} 보내줄게 계좌 알려줘 ; {food} 먹고 싶다{se} ; 오늘 {food} 먹고 {after}{ce} ; 너 {day} 와?
내일 몇 시에 와? ; {who|이} 지금 집에 와 있어{ce} ; 나 오늘 {adv} 바빠서 못 가{se}
[ko query 300]
{city} 날씨 ; {dq} {city} 날씨 ; {dq} 날씨 ; {area} 맛집 추천 ; {area} {food} 맛집
{area} 카페 추천 ; {food} 레시피 ; {food} 만드는 법 ; {item} 추천 ; {gender} {item} 추천
{item} 가격 ; {genre} 영화 추천 ; {year}년 {genre} 영화 ; {city} 가볼만한곳 ; {city} 여행 코스
{year}년 공휴일 ; {year}년 {month} 달력 ; {item} 할인 ; {area} 근처 {place} ; {food} 칼로리
{city} 숙소 추천 ; {area} 영화관 시간표 ; 가방 브랜드 추천 ; {gender} 가방 추천
{city} {food} 맛집 ; {price} 이하 {item} 추천
[ko review 280]
영화 {adv} {mvp}{pe} ; 배우들 연기가 {adv} 좋았다{pe} ; 스토리가 {adv} 지루했어요{ne}
{genre} 영화인데 {adv} {mv} ; 별점 {star}점 줍니다 ; 두 번 봤는데 또 보고 싶다{pe}
배송 {adv} 빠르고 좋아요{pe} ; {item} {adv} 예뻐요{pe} ; {item|이} 생각보다 {size}{ne}
가격 대비 {adv} 괜찮아요{pe} ; 가방이 {adv} 튼튼해요{pe}
이 가방 {price} 주고 샀는데 {adv} 만족해요{pe} ; {food} {adv} 맛있어요{pe}
{food|이} {adv} 맛있어서 재방문 의사 있어요{pe} ; 양이 좀 적어요{ne}
사장님이 {adv} 친절하세요{pe} ; 결말이 {adv} 아쉬웠다{ne} ; {year}년 최고의 영화{pe}
돈 아까운 영화{ne} ; 연출이 {adv} 좋았고 음악도 좋았다 ; {who|이랑} 봤는데 {adv} {mv}
이 영화 보고 {adv} 많이 울었어요{se} ; {price}에 이 정도면 {adv} 괜찮다
[en say 230]
I ate {food_en} for {meal_en} ; I had {food_en} for {meal_en} {when_en}
we ate {food_en} and {did_en} ; {who_en} came over and we {did_en}
I bought a new {item_en} {when_en} ; I left my bag at the {place_en} {when_en}
it was {adv_en} {weather_en} {when_en} ; it's {adv_en} {weather_en} today
I'm {adv_en} {feel_en} today ; I really liked the movie ; I really liked the movie we saw {when_en}
the movie was {adv_en} {madj} ; we watched the new {genre_en} movie at {time_en}
{who_en} and I went to the {place_en} {when_en} ; the {food_en} at that place was really good
{who_en} was really {feel_en} {when_en} ; I have to be at the {place_en} by {time_en}
{who_en} gave me a new {item_en}
[en chat 170]
lol that was so funny{ee} ; are you coming to the {place_en}? ; omw, be there by {time_en}{ee}
running late sorry{ee} ; did you eat yet? ; wanna get {food_en} {fut_en}?
see you at {time_en}{ee} ; thanks so much{ee} ; i'm {adv_en} {feel_en}{ee}
that movie was {adv_en} {madj}{ee} ; can you check your messages?
just got home, call you later{ee} ; did I leave my bag at your place?
happy birthday {name_en}! ❤️ ; wanna watch a movie {fut_en}? ; ok sounds good{ee} ; no way, really?
that's really good news{ee} ; {name_en} where are you? we're at the {place_en}
I just had {food_en} and it was really good{ee} ; meet at the {place_en} at {time_en}?
[en query 140]
how to {task_en} ; {city_en} weather ; {city_en} weather {fut_en} ; best {food_en} near me
best {food_en} in {city_en} ; {item_en} reviews ; cheap flights to {city_en}
best {genre_en} movies {year} ; python list sort ; things to do in {city_en}
{food_en} recipe easy ; movie times near me ; best {item_en} under {price_en}
is the new {genre_en} movie good
[en review 130]
the movie was {adv_en} {madj}{ee} ; I really liked the movie, the ending was {adv_en} good
the acting was really good but the story was {adv_en} {neg_en}
really good {item_en}, would buy again{ee} ; the {item_en} was smaller than I expected
{n}/10 would watch again ; great value for the price{ee} ; not worth {price_en}
the bag arrived in {n} days and it looks really good ; fast shipping and good quality{ee}
way too long, I almost fell asleep ; the {food_en} was really good and the staff were nice
best {genre_en} movie I've seen in years ; the {item_en} was {adv_en} good for {price_en}
[mix chat 180]
{day} 회의 전에 PPT 준비해야 돼{se} ; PPT 아직 다 못 만들었어{se} ; {day} meeting {time|으로} 바뀜
이번 주 deadline {adv} 빡세다{se} ; 넷플릭스에서 movie 봤는데 {adv} good{ce}
영화 really good 이었음{ce} ; {food} 먹었는데 so good{ce} ; {app} 링크 보내줘{ce}
email 확인 부탁드려요 ; 카톡 말고 slack으로 보내줘 ; {ott} 보다가 잠들었어{ce}
{ott}에서 {genre} 영화 봤어{ce} ; 오늘 {work} 하느라 {adv} 바빴어{se} ; {time}에 call 가능?
내 laptop 배터리 나갔어{se} ; {name|아} happy birthday ❤️ ; ㅋㅋㅋ OMG {adv} 웃기다
the movie 진짜 좋았어{ce} ; 이거 really 맛있다{ce} ; 오늘 {food} 먹고 gym 갔다
{day} {work} 있어서 못 가{se}
[mix query 90]
python {py} ; excel 함수 정리 ; excel vlookup 사용법 ; {brand} {item} 추천 ; {phone} 가격
{phone} 케이스 추천 ; macbook 할인 ; {city} airbnb 추천 ; git 커밋 취소 ; {area} brunch 카페
{brand} {item} 가격 ; {app} 다운로드 ; {year} {brand} 신제품
"""
# particle -> (form after a final consonant, form after a vowel)
PARTICLES = {p: (p, alt) for p, alt in [("을", "를"), ("이", "가"), ("은", "는"), ("아", "야")]}
PARTICLES |= {"으로": ("으로", "로"), "이랑": ("이랑", "랑")}


def parse_slots(text: str) -> dict[str, list[str]]:
    """Parse SLOT_TEXT into {slot name: items}; "_" becomes a space."""
    slots: dict[str, list[str]] = {}
    for line in text.strip().splitlines():
        if line and not line.startswith("#"):
            name, _, items = line.partition(": ")
            slots.setdefault(name, []).extend(i.replace("_", " ") for i in items.split("|"))
    return slots


def parse_templates(text: str) -> list[tuple[str, str, int, list[str]]]:
    """Parse TEMPLATE_TEXT into (language, kind, target line count, templates) specs."""
    specs: list[tuple[str, str, int, list[str]]] = []
    for line in text.strip().splitlines():
        if line.startswith("["):
            lang, kind, target = line.strip("[]").split()
            specs.append((lang, kind, int(target), []))
        else:
            specs[-1][3].extend(x.strip() for x in line.split(" ; "))
    return specs


SLOTS = parse_slots(SLOT_TEXT)
SPECS = parse_templates(TEMPLATE_TEXT)
SLOT_RE = re.compile(r"\{(\w+)(?:\|(\w+))?\}")


# Unicode's numbering of precomposed Hangul syllables (models/hangul.py has the whole of it):
# 11,172 from U+AC00, the final consonant (batchim) varying fastest, 28 ways (none first)
SYLLABLE_BASE, SYLLABLE_COUNT, T_COUNT = 0xAC00, 11172, 28
FINAL_RIEUL = 8  # ㄹ


def final_consonant(word: str) -> int:
    """The final consonant of the word's last syllable, as Unicode numbers it among the 28
    (0: none, or not a Hangul syllable; FINAL_RIEUL: ㄹ)."""
    code = ord(word[-1]) - SYLLABLE_BASE
    return code % T_COUNT if 0 <= code < SYLLABLE_COUNT else 0


def josa(word: str, particle: str) -> str:
    """Attach a Korean particle, choosing its form by the final syllable's batchim."""
    with_coda, without_coda = PARTICLES[particle]
    coda = final_consonant(word)
    if particle == "으로" and coda == FINAL_RIEUL:  # ㄹ batchim takes 로
        return word + without_coda
    return word + (with_coda if coda else without_coda)


def fill(template: str, rng: random.Random) -> str:
    """Replace every ``{slot}`` / ``{slot|particle}`` with a random vocabulary item."""

    def sub(match: re.Match[str]) -> str:
        word = rng.choice(SLOTS[match.group(1)])
        return josa(word, match.group(2)) if match.group(2) else word

    return " ".join(SLOT_RE.sub(sub, template).split())


def finish(text: str, lang: str, kind: str, rng: random.Random) -> str:
    """Apply casual surface variation: unspaced Korean, sentence-initial capitals."""
    if lang == "ko" and kind != "review" and len(text) <= 16 and rng.random() < 0.1:
        text = text.replace(" ", "")
    if lang == "en" and (kind in ("say", "review") or rng.random() < 0.3):
        text = text[0].upper() + text[1:]
    return text


def build(seed: int = SEED) -> list[str]:
    """Generate the deduplicated, shuffled corpus lines."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}  # insertion-ordered set, deterministic
    for lang, kind, target, templates in SPECS:
        added = tries = 0
        while added < target and tries < target * 100:
            tries += 1
            line = finish(fill(rng.choice(templates), rng), lang, kind, rng)
            if line not in seen:
                seen[line] = None
                added += 1
    lines = list(seen)
    rng.shuffle(lines)
    return lines


def write_atomic(path: Path, lines: list[str]) -> None:
    """Write lines as UTF-8 via a temp file in the same directory, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output file path")
    args = parser.parse_args(argv)
    lines = build()
    write_atomic(args.out, lines)
    print(f"wrote {len(lines)} lines to {args.out}")


if __name__ == "__main__":
    main()
