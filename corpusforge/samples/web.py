"""A small, realistic Common Crawl sample: four `.warc.gz` files that give every web stage work.

The pages are generated (prose from templates and word lists written for this module, short
sentences in six languages written for it too), so the repository carries no third-party
text. What is in it, and which stage it exercises:

- articles with navigation, cookie banner, sidebar and footer boilerplate (extract);
- pages in de, fr, es, ru, zh, ja (langid);
- exact duplicates (same bytes, other URL) and near duplicates (a few words edited) (dedup);
- thin and spam pages: keyword lists, "buy now" spam, lorem-like repetition, a one-liner (quality);
- pages on blocklisted domains, see BLOCKLISTED_DOMAINS (URL filter);
- pages with e-mail addresses and IP addresses (PII);
- a page with a GSM8K-style question written here, and, when `<repo>/../shared/data/benchmarks`
  exists, pages quoting one real GSM8K test question and one HumanEval prompt (decontamination);
- non-HTML payloads (PDF, PNG), request and metadata records, a 404 (reader drop reasons);
- mild damage only: one page of invalid UTF-8, one page in windows-1251 labelled UTF-8, one
  empty page, one JavaScript app shell with no text. Hard damage (corrupt gzip, broken headers)
  lives in tests/stages/test_bad_input.py.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

DUMP = "CC-MAIN-2024-10"
# Domains the URL filter's shipped blocklist must contain (adult / gambling / pharma spam).
BLOCKLISTED_DOMAINS = ("hot-adult-cams.xxx", "casino-bonus-spins.bet", "cheap-pills-online.biz")
SHARED_BENCHMARKS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "benchmarks"

# -- English prose -------------------------------------------------------------------------------

_TOPICS = {
    "gardening": dict(
        nouns="tomato seedlings|raised beds|compost|clay soil|mulch|pollinators|rainwater barrels|fruit trees|"
        "herb borders|seed catalogues|greenhouse shelves|earthworms",
        people="allotment holders|home gardeners|horticulturists|community growers",
        verbs="protects|improves|feeds|shades|drains|supports|attracts|shelters",
        adjs="well-drained|shaded|organic|heavy|sandy|frost-free|south-facing|nutrient-rich",
    ),
    "astronomy": dict(
        nouns="the telescope|faint galaxies|the lunar surface|meteor showers|the observatory|star clusters|"
        "the spectrograph|planetary rings|dark skies|the night sky|cosmic dust|variable stars",
        people="amateur astronomers|researchers|observers|students at the planetarium",
        verbs="reveals|measures|tracks|records|resolves|maps|captures|confirms",
        adjs="distant|bright|faint|red-shifted|rotating|binary|icy|ancient",
    ),
    "cooking": dict(
        nouns="the sourdough starter|slow-cooked beans|the cast-iron pan|fresh pasta|a spice blend|"
        "the stock pot|roasted vegetables|the bread dough|citrus zest|the braising liquid|rye flour|brown butter",
        people="home cooks|bakers|chefs|food writers",
        verbs="balances|deepens|softens|sharpens|thickens|brightens|carries|rescues",
        adjs="crisp|tender|smoky|sour|golden|fragrant|rustic|seasonal",
    ),
    "cycling": dict(
        nouns="the chain|disc brakes|the gravel route|tyre pressure|the climb|a touring bike|the frame|"
        "commuter lanes|the headwind|panniers|the descent|bike maintenance",
        people="commuters|touring cyclists|mechanics|club riders",
        verbs="slows|rewards|stiffens|lightens|shortens|complicates|improves|tests",
        adjs="steep|muddy|lightweight|steel|efficient|narrow|long-distance|reliable",
    ),
    "history": dict(
        nouns="the harbour records|medieval guilds|the trade route|parish registers|the old mill|"
        "the city walls|court documents|the printing press|river ferries|the market charter|tax rolls|wool merchants",
        people="historians|archivists|local researchers|museum curators",
        verbs="documents|explains|complicates|reshaped|funded|connected|preserved|challenged",
        adjs="medieval|coastal|forgotten|prosperous|contested|rural|well-preserved|fragmentary",
    ),
    "software": dict(
        nouns="the build cache|integration tests|the database index|memory usage|the release branch|"
        "the scheduler|log files|the parser|latency spikes|the config file|code review|the retry logic",
        people="maintainers|on-call engineers|contributors|library authors",
        verbs="reduces|exposes|simplifies|hides|doubles|breaks|speeds up|validates",
        adjs="flaky|incremental|concurrent|stale|deterministic|verbose|lazy|idempotent",
    ),
}
_PLACES = "Lisbon|the Scottish Highlands|Kyoto|Vermont|the Rhine valley|Patagonia|Tasmania|Andalusia|Quebec|Bergen"
_NAMES = "Maria Okafor|Tom Lindqvist|Priya Raman|Daniel Reyes|Helen Achterberg|Sam Whitfield|Aiko Mori|Lucas Brandt"
_TEMPLATES = [
    "{N} {V} {n2} far more than most {P} expect, especially in {A} conditions.",
    "In {Y}, {P} in {L} began to notice that {n} {v} {a} {n2}.",
    "According to {W}, the key is patience: {n} rarely {v} {n2} in the first week.",
    "A {a} approach works best when {n} and {n2} are planned together rather than separately.",
    "{W} recalls that the first attempt failed because {n} was too {a}.",
    "Over {K} seasons, the difference between {a} and {a2} {n2} became obvious.",
    "Most guides skip this step, yet {n} {v} {n2} in ways that matter later.",
    "The numbers are modest: about {K} percent of {P} report that {n} {v} {n2}.",
    "If {n} looks {a}, wait a day before changing anything else.",
    "{P} often ask whether {n} is worth the effort; the short answer is yes, with caveats.",
    "What surprised {W} most was how quickly {n2} responded once {n} was fixed.",
    "Nothing here requires expensive equipment, only attention to {n} and a little record keeping.",
    "The trade-off is simple: {a} {n2} costs more time, but {n} {v} the result.",
    "There is an older tradition in {L}, where {P} treat {n} as a shared responsibility.",
    "By the end of {Y}, the group had written down {K} rules, and the first was about {n}.",
    "Ask around and you will hear a dozen theories about {n}; few of them survive a careful test.",
    "Our own notebook shows {K} entries on {n2}, most of them written late at night.",
    "Weather matters too: a wet spring changes how {n} behaves for months.",
    "{W} keeps a simple habit of checking {n} every morning before breakfast.",
    "Cost is rarely the obstacle here; time and a bit of stubbornness are.",
    "One reader from {L} wrote to say that {n2} had transformed a difficult year.",
    "We tried three variations, and only the {a} one held up after a month.",
    "Experts disagree on the details, yet nearly all of them mention {n} early on.",
    "If you remember a single point from this piece, let it be this: {n} {v} {n2}.",
    "The older manuals, printed around {Y}, describe {n} in surprisingly modern terms.",
    "Small mistakes compound quietly, which is why {P} write everything down.",
    "Later that season the results were measured again, and the gap had narrowed to {K} percent.",
    "Beginners tend to overdo it, while experienced {P} make smaller, steadier changes.",
    "Nobody in {L} expected {n} to become a local obsession, but it did.",
    "The tools involved are ordinary: a notebook, a tape measure and some patience.",
    "Curiously, {a2} {n2} seems to matter less than the timing of each step.",
    "When {W} finally compared notes with neighbours, the pattern became clear.",
    "There is no shortcut, although a {a} start certainly helps.",
    "Records from {Y} suggest that the same question puzzled people long before us.",
    "A second opinion is worth having, especially from someone who has dealt with {n}.",
    "Most of the advice online repeats itself; the useful part fits on one page.",
    "By autumn the difference was visible even to visitors who knew nothing about {n2}.",
    "It took {K} attempts before the method felt natural rather than forced.",
    "For anyone starting out, the best first step is to watch {n} closely for a week.",
    "Local clubs in {L} now run evening sessions devoted entirely to {n2}.",
    "That lesson cost {W} a full season, and it is one worth passing on.",
    "The surprising part is how little equipment any of this requires.",
    "Whatever the method, {a} conditions reward those who plan a little ahead.",
    "Friends who tried the same approach reported similar, if less dramatic, results.",
]


def _pick(rng: random.Random, s: str) -> str:
    return rng.choice(s.split("|"))


def _sentence(rng: random.Random, topic: dict, template: str) -> str:
    s = template.format(
        N=_pick(rng, topic["nouns"]).capitalize(),
        n=_pick(rng, topic["nouns"]),
        n2=_pick(rng, topic["nouns"]),
        V=_pick(rng, topic["verbs"]),
        v=_pick(rng, topic["verbs"]),
        P=_pick(rng, topic["people"]),
        A=_pick(rng, topic["adjs"]),
        a=_pick(rng, topic["adjs"]),
        a2=_pick(rng, topic["adjs"]),
        L=_pick(rng, _PLACES),
        W=_pick(rng, _NAMES),
        Y=rng.randint(1890, 2023),
        K=rng.randint(3, 40),
    )
    return s[0].upper() + s[1:]


def _paragraphs(rng: random.Random, topic: dict, n: int) -> list[str]:
    # Each template at most once per page: real articles do not repeat their sentences, and
    # Gopher's repetition rules would rightly drop pages that did.
    templates = rng.sample(_TEMPLATES, len(_TEMPLATES))
    sizes = [rng.randint(2, 4) for _ in range(n)]
    out, used = [], 0
    for size in sizes:
        chunk = templates[used : used + size]
        used += size
        if chunk:
            out.append(" ".join(_sentence(rng, topic, t) for t in chunk))
    return out


# -- other languages (sentences written for this module) ----------------------------------------

_FOREIGN = {
    "de": (
        "Der Garten im Herbst",
        [
            "Im Herbst sammeln wir das Laub und legen es als Mulch auf die Beete.",
            "Die Tomaten reifen in diesem Jahr später, weil der Sommer kühl und nass war.",
            "Unsere Nachbarin hat uns gezeigt, wie man Kompost richtig umsetzt.",
            "Wer Regenwasser sammelt, spart nicht nur Geld, sondern schont auch die Pflanzen.",
            "Am Wochenende wollen wir die Obstbäume schneiden und neue Kräuter setzen.",
            "Ein guter Boden braucht Zeit, Geduld und viele fleißige Regenwürmer.",
            "Die Kinder haben im Frühling Sonnenblumen gepflanzt, die jetzt größer sind als sie selbst.",
        ],
    ),
    "fr": (
        "Une journée au marché",
        [
            "Le samedi matin, le marché du village se remplit de producteurs et de curieux.",
            "On y trouve des fromages de la région, du pain encore chaud et des légumes de saison.",
            "La boulangère connaît chaque client par son prénom et garde toujours une baguette de côté.",
            "Les prix restent raisonnables, car la plupart des produits viennent de moins de trente kilomètres.",
            "Après les courses, beaucoup s'arrêtent au café de la place pour discuter des nouvelles.",
            "En hiver, les étals sont moins nombreux, mais l'ambiance reste chaleureuse.",
            "Le maire souhaite agrandir le marché et ajouter quelques stands le mercredi.",
        ],
    ),
    "es": (
        "Rutas en bicicleta por la costa",
        [
            "La ruta por la costa empieza en el puerto y sigue el antiguo camino de los pescadores.",
            "En primavera el viento sopla del norte y conviene salir temprano por la mañana.",
            "Hay varias fuentes de agua potable, pero es mejor llevar dos botellas llenas.",
            "Los pueblos del camino ofrecen comida sencilla y muy buena a precios razonables.",
            "Después de la subida al faro, la vista sobre la bahía compensa todo el esfuerzo.",
            "Recomendamos revisar los frenos antes del descenso, que es largo y con curvas cerradas.",
            "Muchos ciclistas terminan la jornada con un baño en la playa de arena blanca.",
        ],
    ),
    "ru": (
        "Зимняя рыбалка на озере",
        [
            "Зимой озеро замерзает, и рыбаки выходят на лёд с раннего утра.",
            "Толщину льда нужно проверять каждый раз, даже если вчера всё было в порядке.",
            "Мой дед научил меня терпению и умению читать погоду по облакам.",
            "Чаще всего здесь ловят окуня и плотву, а иногда попадается щука.",
            "Горячий чай в термосе помогает пережить долгие часы на морозе.",
            "Вечером мы возвращаемся домой уставшие, но довольные уловом.",
            "Местные жители говорят, что в этом году зима пришла раньше обычного.",
        ],
    ),
    "zh": (
        "城市里的小菜园",
        [
            "我们在阳台上种了番茄、辣椒和几种常用的香草。",
            "每天早上浇水的时候，可以看到植物一点一点地长高。",
            "邻居们经常交换种子，也分享种菜的经验和失败的教训。",
            "雨水收集桶让我们在夏天节省了不少自来水。",
            "孩子们最喜欢的是秋天，因为可以亲手摘下成熟的果实。",
            "种菜需要耐心，但收获的喜悦让一切都值得。",
            "社区准备明年开辟一块公共菜地，欢迎大家报名参加。",
        ],
    ),
    "ja": (
        "週末の山歩き",
        [
            "週末は朝早く家を出て、近くの山へ歩きに行きました。",
            "登山道の入り口には小さな神社があり、安全を祈ってから出発します。",
            "途中の休憩所で食べるおにぎりは、いつもより美味しく感じます。",
            "秋になると山全体が赤や黄色に染まり、とても美しい景色になります。",
            "天気が急に変わることがあるので、雨具は必ず持っていきましょう。",
            "頂上からは遠くの海まで見渡すことができました。",
            "帰りは温泉に寄って、疲れた足をゆっくり休めました。",
        ],
    ),
}

_SPAM_WORDS = [
    "cheap",
    "viagra",
    "casino",
    "bonus",
    "free",
    "spins",
    "best",
    "price",
    "replica",
    "watches",
    "payday",
    "loans",
    "crypto",
    "giveaway",
    "weight",
    "loss",
    "pills",
    "online",
    "pharmacy",
    "discount",
]
# A short GSM8K-style question written for this module (not from the benchmark).
_OWN_MATH_QUESTION = (
    "A baker fills 14 trays with 12 rolls each. She sells 3/4 of the rolls in the morning and "
    "gives 9 rolls to a shelter. How many rolls does she have left at the end of the day?"
)


def _article_html(
    rng: random.Random,
    title: str,
    paragraphs: list[str],
    lang: str = "en",
    site: str = "Example News",
    charset: str = "utf-8",
    boilerplate: bool = True,
) -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    nav = footer = cookie = aside = comments = ""
    if boilerplate:
        sections = rng.sample(["Home", "World", "Science", "Food", "Travel", "Tech", "Sport", "Opinion", "Video"], 6)
        nav = (
            "<nav class='menu'><ul>"
            + "".join(f"<li><a href='/{s.lower()}'>{s}</a></li>" for s in sections)
            + "</ul></nav>"
        )
        cookie = (
            "<div id='cookie-banner' class='cookie-consent'>We use cookies to improve your experience. "
            "By continuing to browse you accept our <a href='/privacy'>cookie policy</a>. "
            "<button>Accept all</button><button>Manage settings</button></div>"
        )
        aside = (
            "<aside class='sidebar'><h3>Most read</h3><ul>"
            + "".join(
                f"<li><a href='/story/{rng.randint(1000, 9999)}'>Story {rng.randint(1, 99)}</a></li>" for _ in range(5)
            )
            + "</ul><div class='newsletter'>Sign up for our newsletter <input type='email'></div></aside>"
        )
        footer = (
            f"<footer><p>&copy; {rng.randint(2015, 2024)} {site}. All rights reserved.</p>"
            "<a href='/terms'>Terms of use</a> | <a href='/privacy'>Privacy</a> | "
            "<a href='/contact'>Contact</a></footer>"
        )
        if rng.random() < 0.3:
            comments = "<section class='comments'><h3>Comments</h3><p>Great read, thanks!</p><p>First!</p></section>"
    date = f"{rng.randint(2019, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return (
        f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='{charset}'><title>{title} | {site}</title>"
        f"<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments)}}</script>"
        f"<style>body{{font-family:serif}} .menu li{{display:inline}}</style></head><body>"
        f"{cookie}<header><a class='logo' href='/'>{site}</a>{nav}</header>"
        f"<main><article><h1>{title}</h1><p class='byline'>By {_pick(rng, _NAMES)}, <time>{date}</time></p>"
        f"{body}</article>{comments}</main>{aside}{footer}</body></html>"
    )


def _english_page(rng: random.Random, n_par: int | None = None) -> tuple[str, str]:
    name = rng.choice(sorted(_TOPICS))
    topic = _TOPICS[name]
    subject = _pick(rng, topic["nouns"]).removeprefix("the ")
    title = f"{_pick(rng, topic['adjs']).capitalize()} {subject}: what {_pick(rng, topic['people'])} learned"
    return name, _article_html(rng, title, _paragraphs(rng, topic, n_par or rng.randint(4, 8)))


def _foreign_page(rng: random.Random, lang: str) -> str:
    title, sentences = _FOREIGN[lang]
    sep = "" if lang in ("zh", "ja") else " "
    paragraphs = [sep.join(rng.sample(sentences, rng.randint(3, 5))) for _ in range(rng.randint(3, 5))]
    return _article_html(rng, title, paragraphs, lang=lang, site="Lokal")


def _benchmark_items(rng: random.Random) -> tuple[str | None, str | None]:
    """One real GSM8K test question and one HumanEval prompt, if the shared data is present."""
    question = prompt = None
    gsm = SHARED_BENCHMARKS / "gsm8k" / "test.jsonl"
    if gsm.exists():
        lines = gsm.read_text().splitlines()
        question = json.loads(lines[rng.randrange(len(lines))])["question"]
    he = SHARED_BENCHMARKS / "humaneval" / "HumanEval.jsonl.gz"
    if he.exists():
        items = gzip.decompress(he.read_bytes()).decode().splitlines()
        prompt = json.loads(items[rng.randrange(len(items))])["prompt"]
    return question, prompt


# -- captures ------------------------------------------------------------------------------------


def _captures(rng: random.Random) -> list[dict]:
    """Every record of the sample, in crawl order, before it is split into files."""
    caps: list[dict] = []

    def add(url: str, html: str | bytes, **kw) -> dict:
        payload = html.encode("utf-8") if isinstance(html, str) else html
        cap = {"url": url, "payload": payload, "ctype": "text/html; charset=utf-8", "ptype": "text/html", **kw}
        caps.append(cap)
        return cap

    hosts = [
        "www.greenvalley-news.com",
        "blog.stargazers.org",
        "kitchen-notes.net",
        "wheels-and-roads.co.uk",
        "townhistory.example.org",
        "devlog.io",
        "www.dailyherald-online.com",
        "science-weekly.net",
    ]
    english = []
    for i in range(120):
        topic, html = _english_page(rng)
        url = f"https://{rng.choice(hosts)}/{topic}/{i:04d}-{uuid.UUID(int=rng.getrandbits(128)).hex[:8]}"
        english.append(add(url, html))
    for lang in _FOREIGN:
        for j in range(4):
            add(f"https://{lang}.lokal-{lang}.example/{j}", _foreign_page(rng, lang))
    # Exact duplicates: the same bytes at another URL (syndication, mirrors, tracking params).
    for src in rng.sample(english, 6):
        add(src["url"].replace("https://", "https://mirror.") + "?utm_source=feed", src["payload"])
    # Near duplicates: a handful of words edited.
    for src in rng.sample(english, 6):
        text = src["payload"].decode()
        for old, new in (
            (
                "the ",
                "this ",
            ),
            ("more", "much more"),
            ("2", "3"),
        ):
            text = text.replace(old, new, 2)
        add(src["url"] + "-updated", text)
    # Thin and spam pages.
    for k in range(5):
        words = " ".join(rng.choice(_SPAM_WORDS) for _ in range(rng.randint(60, 150)))
        add(
            f"http://deals-{k}.spam-offers.info/",
            f"<html><head><title>Best deals</title></head><body><p>{words}</p></body></html>",
        )
    for k in range(4):
        add(
            f"http://shop{k}.bargain-outlet.biz/buy",
            "<html><body><h1>BUY NOW!!!</h1>"
            + "<p>Buy now! Limited offer! Click here! 90% off!</p>" * rng.randint(8, 20)
            + "</body></html>",
        )
    for k in range(3):
        add(
            f"http://filler{k}.example.net/",
            "<html><body><p>" + " ".join(["lorem ipsum dolor sit amet"] * rng.randint(30, 80)) + "</p></body></html>",
        )
    for k in range(3):
        add(f"http://tiny{k}.example.net/", "<html><body><p>Coming soon.</p></body></html>")
    # Blocklisted domains.
    for k, dom in enumerate(BLOCKLISTED_DOMAINS * 2):
        add(f"https://www.{dom}/page/{k}", _english_page(rng, 3)[1])
    # PII: e-mail addresses and IPs inside otherwise normal articles.
    for k in range(4):
        rng2 = random.Random(rng.random())
        topic, html = _english_page(rng2, 4)
        pii = (
            f"<p>For questions write to {_pick(rng, 'jane.miller|r.kowalski|support|editor')}@"
            f"{_pick(rng, 'example.org|mail-provider.com|newsroom.net')} or call the office. "
            f"Our mirror server is at 192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)} and "
            f"the API at 203.0.113.{rng.randint(1, 254)}.</p>"
        )
        add(f"https://contact-{k}.community-board.org/about", html.replace("</article>", pii + "</article>"))
    # Decontamination targets.
    own = _article_html(
        rng, "Word problems for practice", _paragraphs(rng, _TOPICS["cooking"], 2) + [_OWN_MATH_QUESTION]
    )
    add("https://homework-help.example.com/practice/1", own, planted=("gsm8k", _OWN_MATH_QUESTION))
    question, prompt = _benchmark_items(rng)
    if question:
        add(
            "https://math-forum.example.com/t/4411",
            _article_html(rng, "Can someone check my answer?", [question] + _paragraphs(rng, _TOPICS["history"], 2)),
            planted=("gsm8k", question),
        )
    if prompt:
        code = prompt.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        add(
            "https://code-snippets.example.dev/p/77",
            _article_html(rng, "Interview question I got", _paragraphs(rng, _TOPICS["software"], 2)).replace(
                "</article>", f"<pre><code>{code}</code></pre></article>"
            ),
            planted=("humaneval", prompt),
        )
    # Non-HTML payloads and a 404.
    add(
        "https://docs.example.org/report.pdf",
        b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n",
        ctype="application/pdf",
        ptype="application/pdf",
    )
    add(
        "https://img.example.org/logo.png",
        b"\x89PNG\r\n\x1a\n" + bytes(rng.getrandbits(8) for _ in range(200)),
        ctype="image/png",
        ptype="image/png",
    )
    add("https://www.greenvalley-news.com/missing", "<html><body><h1>Not found</h1></body></html>", status=404)
    # Mild damage: invalid UTF-8, a windows-1251 page labelled UTF-8, an empty page.
    broken = _english_page(rng, 4)[1].encode("utf-8")
    cut = broken.index(b"<p>", broken.index(b"<article>")) + 10
    add("https://broken-bytes.example.net/a", broken[:cut] + b"\xff\xfe\xc3" + broken[cut:])
    add("https://ru-mislabelled.example.ru/news", _foreign_page(rng, "ru").encode("cp1251"))
    add("https://empty.example.net/", b"")
    # A JavaScript app shell: valid HTML with no text at all (extract drops it as empty_text).
    add(
        "https://app.example.io/dashboard",
        "<!DOCTYPE html><html><head><title></title><script src='/static/js/main.4f1c.js'>"
        "</script></head><body><div id='root'></div></body></html>",
    )
    rng.shuffle(caps)
    return caps


# -- WARC writing --------------------------------------------------------------------------------


def _writer(f):
    from warcio.warcwriter import WARCWriter

    return WARCWriter(f, gzip=True, warc_version="1.0")


def _record_id(key: str) -> str:
    # Deterministic ids (warcio draws random ones), so a regenerated sample has the same documents.
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, key)}>"


def _response(
    writer, url: str, payload: bytes, ctype: str | None, ptype: str | None, date: str, status: int = 200, key: str = ""
):
    from warcio.statusandheaders import StatusAndHeaders

    reason = {200: "OK", 404: "Not Found"}.get(status, "OK")
    http_headers = [("Content-Type", ctype)] if ctype else []
    http_headers.append(("Content-Length", str(len(payload))))
    http = StatusAndHeaders(f"{status} {reason}", http_headers, protocol="HTTP/1.1")
    warc_headers = {"WARC-Date": date, "WARC-Record-ID": _record_id(f"response/{key}/{url}")}
    if ptype:
        # Common Crawl's content detection result (Tika), next to the server's Content-Type.
        warc_headers["WARC-Identified-Payload-Type"] = ptype
    return writer.create_warc_record(
        url, "response", payload=io.BytesIO(payload), http_headers=http, warc_headers_dict=warc_headers
    )


def _warcinfo(writer, filename: str, dump: str):
    info = {
        "software": "corpusforge sample",
        "isPartOf": dump,
        "operator": "corpusforge",
        "description": "Synthetic Common Crawl-like sample",
        "format": "WARC File Format 1.0",
    }
    record = writer.create_warcinfo_record(filename, info)
    record.rec_headers.replace_header("WARC-Record-ID", _record_id(f"warcinfo/{filename}"))
    record.rec_headers.replace_header("WARC-Date", "2024-02-20T21:10:55Z")
    return record


def _sniffed_type(payload: bytes) -> str:
    head = payload[:16]
    if head.startswith(b"%PDF"):
        return "application/pdf"
    if head.startswith(b"\x89PNG"):
        return "image/png"
    return "text/html"


def wrap_pages_as_warc(
    pages: list[tuple[str, bytes]], path: str | Path, payload_type: bool = True, dump: str = DUMP
) -> str:
    """Write `(url, html_bytes)` pages as WARC response records (gzip per record), as Common Crawl does."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = datetime(2024, 2, 20, 21, 10, 55, tzinfo=UTC)
    with open(path, "wb") as f:
        w = _writer(f)
        w.write_record(_warcinfo(w, path.name, dump))
        for i, (url, payload) in enumerate(pages):
            date = (t0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            ptype = _sniffed_type(payload) if payload_type else None
            w.write_record(_response(w, url, payload, "text/html", ptype, date, key=f"{path.name}/{i}"))
    return str(path)


def write_sample(out_dir: str, seed: int = 0) -> list[str]:
    """Write the sample's four `.warc.gz` files under `out_dir`; returns their paths."""
    from warcio.statusandheaders import StatusAndHeaders

    rng = random.Random(seed)
    caps = _captures(rng)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_files = 4
    paths = []
    t0 = datetime(2024, 2, 20, 21, 10, 55, tzinfo=UTC)
    for k in range(n_files):
        name = f"CC-MAIN-20240220211055-20240221001055-{k:05d}.warc.gz"
        path = out / name
        with open(path, "wb") as f:
            w = _writer(f)
            w.write_record(_warcinfo(w, name, DUMP))
            for i, cap in enumerate(caps[k::n_files]):
                date = (t0 + timedelta(seconds=97 * i + k)).strftime("%Y-%m-%dT%H:%M:%SZ")
                if i % 4 == 0:
                    # Common Crawl writes request, response and metadata for every capture.
                    req = StatusAndHeaders(
                        f"GET /{i} HTTP/1.1",
                        [("User-Agent", "CCBot/2.0"), ("Accept", "text/html")],
                        is_http_request=True,
                    )
                    w.write_record(
                        w.create_warc_record(
                            cap["url"],
                            "request",
                            http_headers=req,
                            warc_headers_dict={
                                "WARC-Date": date,
                                "WARC-Record-ID": _record_id(f"request/{seed}/{name}/{i}"),
                            },
                        )
                    )
                w.write_record(
                    _response(
                        w,
                        cap["url"],
                        cap["payload"],
                        cap["ctype"],
                        cap["ptype"],
                        date,
                        cap.get("status", 200),
                        key=f"{seed}/{name}/{i}",
                    )
                )
                if i % 4 == 0:
                    meta = f"fetchTimeMs: {rng.randint(20, 900)}\r\n".encode()
                    w.write_record(
                        w.create_warc_record(
                            cap["url"],
                            "metadata",
                            payload=io.BytesIO(meta),
                            warc_content_type="application/warc-fields",
                            warc_headers_dict={
                                "WARC-Date": date,
                                "WARC-Record-ID": _record_id(f"metadata/{seed}/{name}/{i}"),
                            },
                        )
                    )
        paths.append(str(path))
    return paths


def write_sample_evals(eval_dir: str, seed: int = 0) -> dict[str, str]:
    """Write the evaluation items the sample plants (its own question, and the real GSM8K and
    HumanEval items when ../shared/data is present), in their native formats, for decontamination."""
    planted: dict[str, list[str]] = {}
    for cap in _captures(random.Random(seed)):
        if "planted" in cap:
            name, text = cap["planted"]
            planted.setdefault(name, []).append(text)
    out = Path(eval_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    if planted.get("gsm8k"):
        paths["gsm8k"] = str(out / "gsm8k.jsonl")
        rows = [{"question": q, "answer": ""} for q in planted["gsm8k"]]
        Path(paths["gsm8k"]).write_text("".join(json.dumps(r) + "\n" for r in rows))
    if planted.get("humaneval"):
        paths["humaneval"] = str(out / "humaneval.jsonl")
        rows = [
            {"task_id": f"HumanEval/sample{i}", "prompt": p, "canonical_solution": "", "test": "", "entry_point": ""}
            for i, p in enumerate(planted["humaneval"])
        ]
        Path(paths["humaneval"]).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return paths
